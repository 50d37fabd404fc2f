"""questions answered by a passage: an unanswered question (no reviewed answer) keeps the
document passage it was given, if any ("<document id> p. <page>")

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 11:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('unanswered_question', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answered_with', sa.String(length=160), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('unanswered_question', schema=None) as batch_op:
        batch_op.drop_column('answered_with')
