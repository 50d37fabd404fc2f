"""one concern per message, guaranteed by the database: a unique index on the message a concern
was recorded from (two turns of one message racing on two processes can no longer give it two
references). A message that already has two keeps the first; the others stay in the register,
no longer tied to it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 17:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = "message_id IS NOT NULL"


def upgrade() -> None:
    op.execute(
        "UPDATE concern SET message_id = NULL WHERE message_id IS NOT NULL AND id NOT IN "
        "(SELECT min(id) FROM concern WHERE message_id IS NOT NULL GROUP BY message_id)"
    )
    with op.batch_alter_table('concern', schema=None) as batch_op:
        batch_op.create_index(
            'uq_concern_message',
            ['message_id'],
            unique=True,
            sqlite_where=sa.text(WHERE),
            postgresql_where=sa.text(WHERE),
        )


def downgrade() -> None:
    with op.batch_alter_table('concern', schema=None) as batch_op:
        batch_op.drop_index('uq_concern_message')
