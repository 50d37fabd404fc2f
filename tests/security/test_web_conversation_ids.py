"""Web conversation ids stored before the server issued them are replaced by a digest (finding 3
of the hardening issue): the bearer secrets browsers chose leave the database and its exports."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command

from bot.channels.identity import Pseudonyms
from bot.channels.web.conversations import WebConversations
from bot.storage.database import alembic_config, create_database_engine


def test_ids_chosen_by_browsers_are_replaced_by_a_digest(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config(engine)
    command.upgrade(config, "0007")
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO conversation (id, public_id, channel, external_id, citizen_id, "
            "language_pinned, place, created_at, last_message_at) VALUES "
            "(1, 'p1', 'web', 'browser-secret-1234', 'browser-secret-1234', 0, 'private', "
            "'2026-01-01', '2026-01-01'), "
            "(2, 'p2', 'telegram', '4242', 'tg-abc', 0, 'private', '2026-01-01', '2026-01-01')"
        ))  # fmt: skip
        connection.execute(sa.text(
            "INSERT INTO concern (id, reference, conversation_id, citizen_id, channel, language, "
            "category, kind, text, status, severity, confidential, received_at, updated_at) VALUES "
            "(1, 'C-2026-0001', 1, 'browser-secret-1234', 'web', 'fr', 'noise', 'grievance', "
            "'le bruit', 'received', 'medium', 0, '2026-01-01', '2026-01-01')"
        ))  # fmt: skip
    command.upgrade(config, "head")
    with engine.connect() as connection:
        conversations = connection.execute(
            sa.text("SELECT channel, external_id, citizen_id FROM conversation ORDER BY id")
        ).fetchall()
        concern = connection.execute(sa.text("SELECT citizen_id FROM concern")).scalar_one()
    web, telegram = conversations
    assert web[1].startswith("web-legacy-")
    assert web[1] == web[2] == concern
    assert "browser-secret" not in " ".join([*web, concern])
    assert tuple(telegram) == ("telegram", "4242", "tg-abc")  # other channels are left alone
    engine.dispose()


def test_issued_ids_are_checked_and_stored_as_pseudonyms() -> None:
    ids = WebConversations(Pseudonyms(b"an installation key of 32 bytes!"))
    issued = ids.issue()
    assert ids.is_valid(issued)
    assert not ids.is_valid("aaaaaaaa")
    assert not ids.is_valid(issued[:-1] + ("A" if issued[-1] != "A" else "B"))
    assert not WebConversations.ephemeral().is_valid(issued)  # another installation's key
    assert ids.key_of(issued).startswith("web-")
    assert issued not in ids.key_of(issued)
