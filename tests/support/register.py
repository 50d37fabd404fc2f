"""Concerns in the register for tests, as the assistant would have recorded them."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.storage.models import Concern, Conversation

MARCH = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def add_concern(
    engine: Engine,
    reference: str,
    *,
    received_at: datetime = MARCH,
    channel: str = "telegram",
    chat_id: str = "7301122334",
    citizen: str = "tg-3f9a1c0b7e",
    text: str = "Le chantier est bruyant.",
    language: str = "fr",
    category: str = "noise",
    **fields: Any,
) -> None:
    """Records a concern of the citizen of `chat_id` (their conversation made if needed)."""
    with Session(engine) as session:
        conversation = session.exec(
            select(Conversation).where(
                Conversation.channel == channel, Conversation.external_id == chat_id
            )
        ).first()
        if conversation is None:
            conversation = Conversation(
                public_id=secrets.token_hex(8),
                channel=channel,
                external_id=chat_id,
                citizen_id=citizen,
            )
            session.add(conversation)
            session.flush()
        assert conversation.id is not None
        session.add(
            Concern(
                reference=reference,
                conversation_id=conversation.id,
                citizen_id=citizen,
                channel=channel,
                language=language,
                category=category,
                text=text,
                received_at=received_at,
                **fields,
            )
        )
        session.commit()
