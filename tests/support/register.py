"""Concerns in the register for tests, as the assistant would have recorded them."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session, select

from bot.common.text import fold
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


def add_many_concerns(engine: Engine, count: int) -> None:
    """`count` concerns of one citizen, a day apart, with words of a realistic length."""
    add_concern(engine, "C-2025-0000", received_at=MARCH - timedelta(days=400))
    with Session(engine) as session:
        conversation_id = session.exec(select(Conversation.id)).one()
        session.execute(
            insert(Concern),
            [
                {
                    "reference": f"C-2026-{number:05d}",
                    "conversation_id": conversation_id,
                    "citizen_id": "tg-3f9a1c0b7e",
                    "channel": "telegram",
                    "language": "fr",
                    "category": "noise",
                    "severity": "medium",
                    "status": "received",
                    "confidential": False,
                    "sentiment": -0.3,
                    "respond_by": date(2026, 4, 1),
                    "text": (
                        text := f"Camion n°{number} devant l'école à 6 h, le bruit réveille "
                        "tout le quartier et la poussière couvre les voitures garées rue "
                        "des Tilleuls."
                    ),
                    "search_text": fold(text),
                    "received_at": MARCH + timedelta(minutes=number),
                    "updated_at": MARCH + timedelta(minutes=number),
                }
                for number in range(count)
            ],
        )
        session.commit()
