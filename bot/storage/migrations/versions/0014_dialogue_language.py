"""the language the dialogue engine was last told for a conversation, kept in its row: every
replica reads it there (each used to remember it in its own memory, so a language switched on
one replica and switched back on another could get one answer in the previous language).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 20:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dialogue_language', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_column('dialogue_language')
