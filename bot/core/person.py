"""When a person of the team is brought into a conversation: every decision of a turn to do so,
in one place.

A turn brings a person in when the citizen asks for one (the dialogue's `action_request_human`),
when a concern of a category that needs a person is recorded, when the message speaks of danger,
is strongly negative or is the second in a row the assistant did not understand, when it carries
an attachment the assistant cannot read, and when the assistant could not answer at all (the
dialogue engine down or too slow, a turn cut short by a stop). With the desk, a person is asked
to join (a handoff, one per conversation); without it, the request waits in the register of
requests for a person. Nobody takes over a public group: there the team is told and the citizen
is invited to write in private.
"""

from __future__ import annotations

from sqlmodel import Session

from bot.common.ids import stored_id
from bot.common.phrases import say
from bot.desk.service import Desk, misunderstood_twice
from bot.desk.triggers import danger_words, strongly_negative
from bot.knowledge import KnowledgeBase, contact_line
from bot.storage import repository
from bot.storage.models import Conversation, MessageStatus


class PersonCalls:
    """Decides, for one turn, whether a person of the team is brought in, and says so."""

    def __init__(self, *, desk: Desk | None, knowledge: KnowledgeBase | None = None) -> None:
        self._desk = desk
        self._kb = knowledge

    def asked(
        self,
        session: Session,
        conversation: Conversation,
        message_id: int | None,
        language: str,
        *,
        after_unknown_question: bool = False,
    ) -> str:
        """The citizen asked for a person ("yes" to the offer after a question the assistant
        could not answer, or asked outright); returns what they are told."""
        if self._desk is not None and conversation.place != "group":
            handoff, _ = self._desk.request(
                session, conversation, reason="asked_human", message_id=message_id
            )
            return self._desk.request_notice(handoff, language)
        repository.open_human_request(
            session=session,
            conversation=conversation,
            message_id=message_id,
            reason="unknown_question" if after_unknown_question else "asked_human",
        )
        if self._kb is None:
            raise RuntimeError("PersonCalls.asked needs the knowledge base (the team's contact)")
        return say(
            "human_requested",
            language,
            hours=self._kb.contact.hours[language],
            contact=contact_line(self._kb, language),
        )

    def for_concern(
        self,
        session: Session,
        conversation: Conversation,
        message_id: int,
        category: str,
        language: str,
    ) -> list[str]:
        """A concern of a category that needs a person brings one in (private threads only);
        returns what the citizen is told (nothing when a person was already asked for)."""
        if (
            self._desk is None
            or category not in self._desk.handoff_categories
            or conversation.place == "group"
        ):
            return []
        handoff, new = self._desk.request(
            session, conversation, reason="category", message_id=message_id, detail=category
        )
        return [self._desk.request_notice(handoff, language)] if new else []

    def after_turn(
        self,
        session: Session,
        conversation: Conversation,
        *,
        place: str | None,
        message_id: int,
        text: str,
        language: str,
        intent: str | None,
    ) -> list[str]:
        """Brings a person in when the message speaks of danger, is strongly negative, or is the
        second in a row the assistant did not understand; returns what the citizen is told."""
        if self._desk is None:
            return []
        conversation_id = stored_id(conversation.id)
        informational = bool(intent and intent.startswith("faq/")) and "?" in text
        danger = danger_words(text, informational=informational)
        if place == "group":
            # Nobody takes over a public thread: the team is told, the citizen is invited to
            # write in private, and anyone in danger is told whom to call.
            if not danger:
                return []
            repository.open_human_request(
                session=session, conversation=conversation, message_id=message_id, reason="urgent"
            )
            return [say("handoff_emergency", language, number=self._desk.emergency_number)]
        if self._desk.open_handoff(session, conversation_id) is not None:
            return []  # asked for in this very turn (by the citizen, or for the concern)
        reason, detail = None, None
        if danger:
            reason, detail = "urgent", ", ".join(danger)
        elif negative := strongly_negative(text):
            reason, detail = "negative", ", ".join(negative)
        elif misunderstood_twice(session, conversation_id):
            reason = "not_understood"
        if reason is None:
            return []
        handoff, _ = self._desk.request(
            session, conversation, reason=reason, message_id=message_id, detail=detail
        )
        return [self._desk.request_notice(handoff, language)]

    def for_attachment(self, session: Session, conversation: Conversation, message_id: int) -> None:
        """An attachment the assistant cannot read is for a person to look at."""
        repository.open_human_request(
            session=session, conversation=conversation, message_id=message_id, reason="attachment"
        )

    def keep(
        self,
        session: Session,
        conversation: Conversation,
        message_id: int,
        text: str,
        language: str,
        reason: str,
    ) -> None:
        """Keeps a message the assistant could not answer for the team and asks a person to take
        the thread up."""
        repository.record_unanswered_question(
            session=session,
            conversation=conversation,
            message_id=message_id,
            text=text,
            language=language,
            reason=reason,
        )
        repository.open_human_request(
            session=session, conversation=conversation, message_id=message_id, reason=reason
        )

    def give_up(
        self,
        session: Session,
        conversation: Conversation,
        message_id: int,
        text: str,
        language: str,
        reason: str,
    ) -> None:
        """Marks a message the assistant will not answer as unanswered and keeps it for a
        person."""
        repository.finish_incoming(
            session=session,
            message_id=message_id,
            status=MessageStatus.UNANSWERED,
            intent=None,
            confidence=None,
        )
        self.keep(session, conversation, message_id, text, language, reason)

    def with_person(self, session: Session, conversation: Conversation) -> bool:
        """Whether a person has been asked to join the conversation (and not closed)."""
        return (
            self._desk is not None
            and self._desk.open_handoff(session, stored_id(conversation.id)) is not None
        )
