"""concern kinds: a concern is a grievance (a harm to the citizen) or an objection (to the
project or its process); concerns recorded before are grievances, as the register treated them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('concern', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('kind', sa.String(length=16), nullable=False, server_default='grievance')
        )
        batch_op.create_index(batch_op.f('ix_concern_kind'), ['kind'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('concern', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_concern_kind'))
        batch_op.drop_column('kind')
