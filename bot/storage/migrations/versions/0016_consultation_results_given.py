"""when a closed consultation's result was given back to its participants: closing and giving
the result were one after the other, and a process that died between them left a consultation
closed whose participants were never told; the result is now given in one transaction that sets
this, and what is closed without it is given on the next tick. Consultations closed before this
migration had their result given at closing.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 12:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'results_given_at', bot.storage.models.UTCDateTime(timezone=True), nullable=True
            )
        )
    op.execute("UPDATE consultation SET results_given_at = closed_at WHERE status = 'closed'")


def downgrade() -> None:
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.drop_column('results_given_at')
