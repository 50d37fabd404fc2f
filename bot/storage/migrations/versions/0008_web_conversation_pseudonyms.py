"""web conversations stored as pseudonyms: until now a web conversation's id, chosen by the
browser and a bearer secret (whoever holds it reads the conversation and acts on its concerns),
was stored as the conversation's `external_id` and as the `citizen_id` of its conversation and
concerns, and exported. From now on the server issues the ids and stores only their keyed
pseudonym; the ids stored before are replaced by a one-way digest (they are no longer honoured:
such a browser starts a new conversation).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 12:00:00.000000
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _digest(raw: str) -> str:
    return "web-legacy-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:20]


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, external_id, citizen_id FROM conversation WHERE channel = 'web'")
    ).fetchall()
    for row_id, external_id, citizen_id in rows:
        if external_id.startswith("web-"):
            continue  # already a pseudonym
        bind.execute(
            sa.text("UPDATE conversation SET external_id = :e, citizen_id = :c WHERE id = :i"),
            {"e": _digest(external_id), "c": _digest(citizen_id), "i": row_id},
        )
    concerns = bind.execute(
        sa.text("SELECT id, citizen_id FROM concern WHERE channel = 'web'")
    ).fetchall()
    for row_id, citizen_id in concerns:
        if citizen_id and not citizen_id.startswith("web-"):
            bind.execute(
                sa.text("UPDATE concern SET citizen_id = :c WHERE id = :i"),
                {"c": _digest(citizen_id), "i": row_id},
            )


def downgrade() -> None:
    pass  # a digest cannot be undone, and the old ids must not come back
