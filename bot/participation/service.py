"""What a citizen's turn asks of the common project: a vote or a membership answer taken before
the dialogue, an invitation or an offer to get involved after it, and the `/vote` and
`/volunteer` commands. The conversation core calls this one object."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from bot.common.phrases import say
from bot.common.types import Choice
from bot.listening.intents import GuardedIntentReader, HeardIntent
from bot.participation import volunteers
from bot.participation.consultations import Consultations
from bot.participation.ideas import record_idea
from bot.storage.models import Conversation

SUPPORT_INTENTS = frozenset({"express_support"})


@dataclass(frozen=True)
class AfterTurn:
    """What follows the answer of a turn: texts, buttons for the last one, and the invitation
    to link to its stored message (None: no invitation)."""

    texts: tuple[str, ...] = ()
    choices: tuple[Choice, ...] = ()
    invite_id: int | None = None


class Participation:
    """The common project as seen from a conversation."""

    def __init__(
        self,
        consultations: Consultations | None = None,
        intents: GuardedIntentReader | None = None,
    ) -> None:
        self.consultations = consultations
        self._intents = intents

    async def hear(self, text: str) -> HeardIntent | None:
        """A short message read as an idea or an offer to help, beside the dialogue's intent
        (None: nothing heard, or no intent reader)."""
        if self._intents is None:
            return None
        return await self._intents.hear(text)

    def take_heard(
        self,
        session: Session,
        conversation: Conversation,
        *,
        message_id: int,
        text: str,
        language: str,
        heard: HeardIntent,
        dialogue_intent: str,
        texts: list[str],
    ) -> list[str]:
        """An idea (recorded, with its reference) or an offer to help (what joining means) the
        dialogue took for something else; what the dialogue answered is kept after it when it
        answered a question or offered to join, before it when it recorded an idea, and replaced
        otherwise (an apology for not understanding, a thank-you)."""
        if heard.intent == "share_idea":
            said = record_idea(
                session=session,
                conversation=conversation,
                message_id=message_id,
                text=text,
                language=language,
            )
        else:
            said = volunteers.offer(session, conversation, language)
        if dialogue_intent.startswith("faq/") and texts:
            return [said, say("as_for_your_question", language), *texts]
        if dialogue_intent == "volunteer":
            return [said, *texts]
        if dialogue_intent == "share_idea":
            # The idea the dialogue recorded, with its reference, then what joining means.
            return [*texts, said]
        return [said]

    def before_dialogue(
        self, session: Session, conversation: Conversation, text: str, language: str
    ) -> list[str] | None:
        """An answer to a membership offer, "leave the list", "share: ...", or a vote; None
        when the message is none of these (the dialogue then answers it)."""
        said = volunteers.answer(session, conversation, text, language)
        if said is not None:
            return [said]
        if self.consultations is not None:
            return self.consultations.take_text(session, conversation, text, language)
        return None

    def after_turn(
        self,
        session: Session,
        conversation: Conversation,
        intent: str | None,
        language: str,
    ) -> AfterTurn:
        """After an answered turn in private: how to get involved (for a supporter), and an
        open consultation put to anyone who talks to the assistant (once)."""
        if conversation.place == "group":
            return AfterTurn()
        texts: list[str] = []
        if intent in SUPPORT_INTENTS:
            offer = volunteers.support_offer(session, conversation, language)
            if offer:
                texts.append(offer)
        if self.consultations is not None:
            hint = self.consultations.open_answer_hint(session, conversation, language)
            if hint:
                texts.append(hint)
            invitation = self.consultations.invitation_for_turn(session, conversation, language)
            if invitation is not None:
                text, choices, invite_id = invitation
                return AfterTurn(texts=(*texts, text), choices=choices, invite_id=invite_id)
        return AfterTurn(texts=tuple(texts))

    def linked(self, session: Session, after: AfterTurn, message_id: int | None) -> None:
        """Links the invitation given in a turn to the message that carries it."""
        if after.invite_id is not None and message_id is not None and self.consultations:
            self.consultations.invited_message(session, after.invite_id, message_id)

    def command(
        self, session: Session, conversation: Conversation, name: str, argument: str, language: str
    ) -> tuple[list[str], tuple[Choice, ...]]:
        """`/vote [reference] [choice]` and `/volunteer [yes|stop]`."""
        if name == "volunteer":
            word = argument.strip().lower()
            if word in ("stop", "leave", "quitter", "non", "no"):
                return [volunteers.leave(session, conversation, language, actor="citizen")], ()
            if word in ("yes", "oui", "join", "rejoindre"):
                return [volunteers.join(session, conversation, language)], ()
            return [volunteers.offer(session, conversation, language)], ()
        if self.consultations is None:
            return [], ()
        return self.consultations.command(session, conversation, argument, language)
