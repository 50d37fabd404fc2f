"""Erasure leaves no copy (finding 4 of the hardening issue): after "erase my data", a marker the
citizen wrote is nowhere in the database file or its write-ahead log, and every table that
copied it (replies to send, raw platform updates, a handoff's words of danger and what was said
in it, FAQ drafts) no longer holds it; the dialogue engine is asked to forget the conversation.
(The same against the real Rasa server: tests/e2e/test_live_conversations.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.common.calendar import BusinessCalendar
from bot.common.language import LanguageDetector
from bot.common.types import IncomingMessage
from bot.core.conversation import ConversationCore
from bot.register.privacy import purge_older_than
from bot.register.service import Register
from bot.storage import repository
from bot.storage.database import open_database
from bot.storage.models import (
    Conversation,
    FaqDraft,
    Handoff,
    HandoffEvent,
    InboundUpdate,
    OutboxMessage,
    UnansweredQuestion,
)
from tests.support.dialogue import FakeDialogue

MARKER = "Zq8marker8qZ"


class ForgettingDialogue(FakeDialogue):
    def __init__(self) -> None:
        super().__init__()
        self.forgotten: list[str] = []

    async def forget(self, sender_id: str) -> None:
        self.forgotten.append(sender_id)


def copies_everywhere(session: Session, conversation: Conversation) -> None:
    """What other parts of the assistant copy of a citizen's words."""
    assert conversation.id is not None
    session.add(
        OutboxMessage(
            channel="telegram", destination="4242", conversation_id=conversation.id,
            text=f"Vous avez écrit : {MARKER}", nonce="n-1", options={"quote": MARKER},
        )
    )  # fmt: skip
    session.add(
        InboundUpdate(
            channel=conversation.channel, update_key="u-1", payload={"text": MARKER},
            conversation_key=f"4242:{conversation.citizen_id}", last_error=f"failed on {MARKER}",
        )
    )  # fmt: skip
    handoff = Handoff(
        reference="H-0001", conversation_id=conversation.id, reason="urgent", detail=MARKER
    )
    session.add(handoff)
    session.commit()
    assert handoff.id is not None
    session.add(HandoffEvent(handoff_id=handoff.id, actor="staff:web:marie", kind="note",
                             text=f"Le citoyen parle de {MARKER}"))  # fmt: skip
    draft = FaqDraft(
        topic="decommissioning", questions=[f"Qui paie pour {MARKER}?", "Qui démantèle?"],
        answer_fr="…", answer_en="…", sources=[], author="staff:marie",
    )  # fmt: skip
    session.add(draft)
    session.commit()
    question = repository.record_unanswered_question(
        session=session, conversation=conversation, message_id=None,
        text=f"Qui paie pour {MARKER}?", language="fr", reason="low_confidence",
    )  # fmt: skip
    question.faq_draft_id = draft.id
    session.add(question)
    session.commit()


def file_bytes(database_url: str) -> bytes:
    path = Path(database_url.removeprefix("sqlite:///"))
    return b"".join(
        file.read_bytes() for file in (path, path.with_name(path.name + "-wal")) if file.exists()
    )


async def test_after_erasure_no_copy_of_the_words_is_left(
    tmp_path: Path, detector: LanguageDetector
) -> None:
    url = f"sqlite:///{tmp_path / 'erase.db'}"
    database = open_database(url)
    dialogue = ForgettingDialogue()
    core = ConversationCore(
        engine=database, dialogue=dialogue, detector=detector, turn_timeout=1.0,
        register=Register(engine=database, calendar=BusinessCalendar()),
        first_contact_notice=False,
    )  # fmt: skip
    said = IncomingMessage(
        channel="web", conversation_key="web-abc", sender_key="web-abc",
        text=f"Les camions passent devant le {MARKER} tous les jours",
    )  # fmt: skip
    await core.handle(said)
    with Session(database, expire_on_commit=False) as session:
        conversation = session.exec(select(Conversation)).one()
        copies_everywhere(session, conversation)
    assert MARKER.encode() in file_bytes(url)

    with Session(database, expire_on_commit=False) as session:
        conversation = session.exec(select(Conversation)).one()
        conversation.erase_requested_at = conversation.last_message_at
        session.add(conversation)
        session.commit()
    await core.handle(
        IncomingMessage(channel="web", conversation_key="web-abc", sender_key="web-abc", text="oui")
    )
    await core.settle_readings()

    assert dialogue.forgotten == [conversation.public_id]
    with Session(database) as session:
        (draft,) = session.exec(select(FaqDraft)).all()
        assert draft.questions == ["Qui démantèle?"]
        (update,) = session.exec(select(InboundUpdate)).all()
        assert MARKER not in str(update.conversation_key) + str(update.last_error)
        assert session.exec(select(Handoff)).one().detail is None
        events = session.exec(select(HandoffEvent).order_by(HandoffEvent.id)).all()
        # The staff's note loses its words; the handoff closes (no one can follow up).
        assert [(e.kind, e.text) for e in events] == [("note", None), ("closed", "erased")]
        assert MARKER not in session.exec(select(OutboxMessage)).one().text
    database.dispose()
    assert MARKER.encode() not in file_bytes(url)


def test_retention_reaches_the_same_places(database: Engine, knowledge: Any) -> None:  # type: ignore[no-untyped-def]
    with Session(database, expire_on_commit=False) as session:
        conversation = repository.get_or_create_conversation(
            session=session, channel="telegram", external_id="4242", citizen_id="tg-1"
        )
        copies_everywhere(session, conversation)
        conversation.last_message_at = conversation.last_message_at.replace(year=2000)
        session.add(conversation)
        session.commit()
    purge_older_than(engine=database, days=30, actor="system")
    with Session(database) as session:
        assert session.exec(select(Handoff)).one().detail is None
        assert MARKER not in session.exec(select(OutboxMessage)).one().text
        assert session.exec(select(FaqDraft)).one().questions == ["Qui démantèle?"]
        assert session.exec(select(UnansweredQuestion)).one().text != f"Qui paie pour {MARKER}?"
