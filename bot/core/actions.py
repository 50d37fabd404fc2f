"""The custom actions Rasa calls back: the turn's second entrance, run in the application.

Rasa decides *which* action runs; this module carries it out against our database
(recording a concern, opening a request for a person, switching language...) and
says the result in the conversation's language. It speaks Rasa's documented
action-server protocol (a JSON POST with `next_action`, `sender_id`, `tracker`,
answered with `events` and `responses`), so Rasa needs no code of ours.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from bot.common.phrases import CATEGORY_NAMES, OUTCOME_NAMES, STATUS_NAMES, say
from bot.common.text import fold, valid_text
from bot.common.types import Interpretation
from bot.core import erasure
from bot.core.person import PersonCalls
from bot.desk.service import Desk
from bot.dialogue.engine import interpretation_from_parse
from bot.knowledge import KnowledgeBase
from bot.listening.intents import yields
from bot.participation import volunteers
from bot.participation.ideas import record_idea
from bot.participation.service import Participation
from bot.register.service import Register
from bot.storage import repository
from bot.storage.models import Conversation, MessageStatus
from bot.updates.subscriptions import Subscriptions

logger = logging.getLogger(__name__)

REFERENCE = re.compile(r"\b[cC]-?(\d{4})-?(\d{1,6})\b")


class UnknownAction(Exception):
    """Rasa asked for an action this application does not implement."""


class ActionRequestError(Exception):
    """The action call is malformed."""


@dataclass
class Turn:
    """What an action needs to know about the turn it runs in."""

    session: Session
    conversation: Conversation
    language: str
    text: str
    message_id: int | None
    interpretation: Interpretation
    latest_action: str | None


@dataclass
class ActionResult:
    """The replies and slot changes of one action.

    `texts` are said first, then the domain responses named in `responses` (Rasa renders
    them, in the conversation's language).
    """

    texts: list[str]
    slots: dict[str, Any]
    responses: list[str] = field(default_factory=list)


Handler = Callable[[Turn], Awaitable[ActionResult]]


class _Extra(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Intent(_Extra):
    name: str | None = None
    confidence: float | None = None


class _Latest(_Extra):
    text: Annotated[str, AfterValidator(valid_text)] | None = Field(
        default=None, max_length=100_000
    )
    metadata: dict[str, Any] | None = None
    intent: _Intent | None = None
    intent_ranking: list[_Intent] | None = None
    # Rasa's own shape ({"all_retrieval_intents": [...], "faq": {...}}): read defensively by
    # `interpretation_from_parse`.
    response_selector: dict[str, Any] | None = None


class _Slots(_Extra):
    language: str | None = None


class _Tracker(_Extra):
    latest_message: _Latest | None = None
    slots: _Slots | None = None
    latest_action_name: str | None = None


class _ActionCall(_Extra):
    """The fields of a Rasa action call the actions read, with their types: anything else in
    them is refused with 400 rather than failing deep inside an action."""

    next_action: str
    # Our conversations' public ids; one Rasa made up itself is kept as its own conversation.
    sender_id: str = Field(min_length=1, max_length=64, pattern=r"^[\w.:@-]+$")
    tracker: _Tracker


class ActionServer:
    """Runs the custom actions named in the domain."""

    def __init__(
        self,
        *,
        engine: Engine,
        knowledge: KnowledgeBase,
        register: Register,
        languages: tuple[str, ...],
        default_language: str,
        desk: Desk | None = None,
        participation: Participation | None = None,
    ) -> None:
        self._db = engine
        self._participation = participation
        self._person = PersonCalls(desk=desk, knowledge=knowledge)
        self._kb = knowledge
        self._subscriptions = Subscriptions(knowledge.update_topics)
        self._register = register
        self._languages = languages
        self._default_language = default_language
        self._handlers: dict[str, Handler] = {
            "action_record_concern": self.record_concern,
            "action_concern_status": self.concern_status,
            "action_request_human": self.request_human,
            "action_unknown_question": self.unknown_question,
            "action_out_of_scope": self.out_of_scope,
            "action_change_language": self.change_language,
            "action_subscribe": self.subscribe,
            "action_unsubscribe": self.unsubscribe,
            "action_forget_me": self.forget_me,
            "action_record_idea": self.record_idea,
            "action_offer_volunteer": self.offer_volunteer,
        }

    @property
    def action_names(self) -> list[str]:
        """The actions this server implements."""
        return sorted(self._handlers)

    async def run(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Runs the action a Rasa request names and returns the protocol's answer.

        Raises:
            UnknownAction: for an action we do not implement.
            ActionRequestError: for a request without a sender or tracker.
        """
        name = payload.get("next_action")
        handler = self._handlers.get(str(name))
        if handler is None:
            raise UnknownAction(str(name))
        try:
            call = _ActionCall.model_validate(payload)
        except ValidationError as exc:
            # Refused at the door, with where (never the values: they may be a citizen's words).
            where = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:3])
            raise ActionRequestError(f"the action call is malformed ({where})") from exc
        sender_id = call.sender_id
        tracker = call.tracker.model_dump(exclude_none=True)
        latest: dict[str, Any] = tracker.get("latest_message") or {}
        metadata: dict[str, Any] = latest.get("metadata") or {}
        with Session(self._db, expire_on_commit=False) as session:
            conversation = repository.conversation_by_public_id(
                session=session, public_id=sender_id
            )
            if conversation is None:
                # A conversation started directly on Rasa (e.g. `rasa shell`): keep it all the same.
                conversation = repository.get_or_create_conversation(
                    session=session, channel="rasa", external_id=sender_id, citizen_id=sender_id
                )
            turn = Turn(
                session=session,
                conversation=conversation,
                language=self._language(metadata, tracker, conversation),
                text=str(latest.get("text") or ""),
                message_id=_int_or_none(metadata.get("message_id")),
                interpretation=interpretation_from_parse(latest),
                latest_action=tracker.get("latest_action_name"),
            )
            if _abandoned(session, turn):
                # The turn timed out: the citizen was told the assistant could not answer and a
                # person will follow up. Rasa, still working on it, must not act behind them
                # (open a handoff, ask to erase...), so the late action does nothing.
                logger.info("%s arrived after its turn was given up: ignored", name)
                return {"events": [], "responses": []}
            result = await handler(turn)
        return {
            "events": [
                {"event": "slot", "timestamp": None, "name": slot, "value": value}
                for slot, value in result.slots.items()
            ],
            "responses": [{"text": text} for text in result.texts]
            + [{"response": name} for name in result.responses],
        }

    def _language(
        self, metadata: dict[str, Any], tracker: dict[str, Any], conversation: Conversation
    ) -> str:
        candidates = (
            metadata.get("language"),
            (tracker.get("slots") or {}).get("language"),
            conversation.language,
        )
        for candidate in candidates:
            if candidate in self._languages:
                return str(candidate)
        return self._default_language

    def _full_text(self, turn: Turn) -> str:
        """The citizen's whole message (Rasa may have seen a shortened copy)."""
        if turn.message_id is not None:
            stored = repository.message_by_id(session=turn.session, message_id=turn.message_id)
            if stored is not None and stored.conversation_id == turn.conversation.id:
                return stored.text
        return turn.text

    # The actions -------------------------------------------------------------------------

    async def record_concern(self, turn: Turn) -> ActionResult:
        """Says nothing: the concern step of the turn (`bot.register.hearing`, run by the core
        for every message, whatever its intent) records the concern and acknowledges it, with
        the reviewed answer on its subject. This action only marks the turn in the dialogue."""
        return ActionResult(texts=[], slots={})

    async def concern_status(self, turn: Turn) -> ActionResult:
        """The status, next deadline and latest answer of the citizen's own concerns, never
        anyone else's (withdrawing, accepting or appealing is done by the core, before)."""
        own = self._register.of_citizen(session=turn.session, conversation=turn.conversation)
        asked = {f"C-{year}-{int(number):04d}" for year, number in REFERENCE.findall(turn.text)}
        if asked:
            found = [c for c in own if c.reference in asked]
            missing = sorted(asked - {c.reference for c in found})
            texts = [self._status_text(turn, c) for c in found]
            texts += [say("concern_status_not_yours", turn.language, reference=r) for r in missing]
            return ActionResult(texts=texts, slots={})
        if not own:
            return ActionResult(texts=[say("concern_status_none", turn.language)], slots={})
        return ActionResult(texts=[self._status_text(turn, c) for c in own[:5]], slots={})

    def _status_text(self, turn: Turn, concern: Any) -> str:
        language = turn.language
        lines = [self._status_line(concern, language)]
        if concern.status != "closed" and concern.respond_by and concern.responded_at is None:
            lines.append(
                say("concern_next_deadline", language, date=concern.respond_by.isoformat())
            )
        response = self._register.latest_response(session=turn.session, concern=concern)
        if response is not None and response.text:
            lines.append(
                say(
                    "concern_latest_response",
                    language,
                    date=response.at.date().isoformat(),
                    text=response.text,
                )
            )
        return " ".join(lines)

    @staticmethod
    def _status_line(concern: Any, language: str) -> str:
        status = STATUS_NAMES.get(concern.status, {}).get(language, concern.status)
        if concern.outcome:
            status = f"{status} ({OUTCOME_NAMES[concern.outcome][language]})"
        return say(
            "concern_status_one",
            language,
            reference=concern.reference,
            category=CATEGORY_NAMES.get(concern.category, CATEGORY_NAMES["other"])[language],
            date=concern.received_at.date().isoformat(),
            status=status,
        )

    async def request_human(self, turn: Turn) -> ActionResult:
        """Asks the project team to take the conversation up: a person joins it (the desk),
        and meanwhile the assistant is silent."""
        reply = self._person.asked(
            turn.session,
            turn.conversation,
            turn.message_id,
            turn.language,
            after_unknown_question=turn.interpretation.intent == "affirm",
        )
        return ActionResult(texts=[reply], slots={})

    def _keep_unanswered(self, turn: Turn, reason: str) -> None:
        repository.record_unanswered_question(
            session=turn.session,
            conversation=turn.conversation,
            message_id=turn.message_id,
            text=self._full_text(turn),
            language=turn.language,
            reason=reason,
            intent=turn.interpretation.intent,
            confidence=turn.interpretation.confidence,
        )

    async def unknown_question(self, turn: Turn) -> ActionResult:
        """Says plainly it is not sure, records the question and offers a person."""
        self._keep_unanswered(turn, "low_confidence")
        return ActionResult(texts=[say("unknown_question", turn.language)], slots={})

    async def out_of_scope(self, turn: Turn) -> ActionResult:
        """Says the question is outside the project, and keeps it for the team."""
        self._keep_unanswered(turn, "out_of_scope")
        project = self._kb.name[turn.language]
        return ActionResult(texts=[say("out_of_scope", turn.language, project=project)], slots={})

    async def change_language(self, turn: Turn) -> ActionResult:
        """Switches to the language the citizen asked for and keeps it (unless the message is an
        offer to help or an idea: "I can interpret between French and English at meetings")."""
        instead = await self._heard_instead(turn)
        if instead is not None:
            return instead
        target = self._requested_language(turn.text, current=turn.language)
        repository.set_conversation_language(
            session=turn.session, conversation=turn.conversation, language=target, pinned=True
        )
        return ActionResult(texts=[say("language_switched", target)], slots={"language": target})

    def _requested_language(self, text: str, *, current: str) -> str:
        folded = fold(text)
        wants = [
            lang
            for lang, cues in (("en", ("angl", "english", "engl")), ("fr", ("fran", "french")))
            if lang in self._languages and any(cue in folded for cue in cues)
        ]
        if len(wants) == 1:
            return wants[0]
        others = [lang for lang in self._languages if lang != current]
        return others[0] if others else current

    async def subscribe(self, turn: Turn) -> ActionResult:
        """Subscribes the conversation to project news: the topics its message names ("les
        avis de dynamitage"), or all news (unless the message is an offer to help or an idea:
        "I could hand out the newsletter to the seniors of my road")."""
        instead = await self._heard_instead(turn)
        if instead is not None:
            return instead
        texts = self._subscriptions.subscribe(
            session=turn.session,
            conversation=turn.conversation,
            text=self._full_text(turn),
            language=turn.language,
        )
        return ActionResult(texts=texts, slots={})

    async def _heard_instead(self, turn: Turn) -> ActionResult | None:
        """The idea recorded, or joining offered, when the intent reader firmly hears one in a
        message the dialogue took for a request that `yields` to it; None otherwise (the
        conversation core, hearing the same, then acts on the reader's intent too)."""
        if self._participation is None:
            return None
        heard = await self._participation.hear(self._full_text(turn))
        if heard is None or not yields(turn.interpretation.intent, heard):
            return None
        if heard.intent == "share_idea":
            return await self.record_idea(turn)
        return await self.offer_volunteer(turn)

    async def unsubscribe(self, turn: Turn) -> ActionResult:
        """Stops the topics the message names, or all project news for the conversation."""
        texts = self._subscriptions.unsubscribe(
            session=turn.session,
            conversation=turn.conversation,
            text=self._full_text(turn),
            language=turn.language,
        )
        return ActionResult(texts=texts, slots={})

    async def record_idea(self, turn: Turn) -> ActionResult:
        """Records the citizen's idea in the idea box, with a reference."""
        text = self._full_text(turn)
        acknowledgement = record_idea(
            session=turn.session,
            conversation=turn.conversation,
            message_id=turn.message_id,
            text=text,
            language=turn.language,
        )
        return ActionResult(texts=[acknowledgement], slots={})

    async def offer_volunteer(self, turn: Turn) -> ActionResult:
        """Says what joining the engaged members means and asks the citizen to confirm; in a
        group, invites them to continue in private (their membership is theirs alone)."""
        return ActionResult(
            texts=[volunteers.offer(turn.session, turn.conversation, turn.language)], slots={}
        )

    async def forget_me(self, turn: Turn) -> ActionResult:
        """Asks the citizen to confirm the erasure (the next "yes" erases: `bot.core.erasure`)."""
        return ActionResult(
            texts=[erasure.ask(turn.session, turn.conversation, turn.language)], slots={}
        )


def _abandoned(session: Session, turn: Turn) -> bool:
    """Whether the turn this action belongs to was given up (the dialogue engine answered too
    late: the message is marked unanswered and kept for a person)."""
    if turn.message_id is None:
        return False
    stored = repository.message_by_id(session=session, message_id=turn.message_id)
    return (
        stored is not None
        and stored.conversation_id == turn.conversation.id
        and stored.status == MessageStatus.UNANSWERED
    )


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        found = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        return None
    return found if 0 < found < 2**63 else None
