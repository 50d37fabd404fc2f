"""the concern register on the web desk: staff roles (existing accounts become managers), a
version counter on concerns (a colleague's concurrent change is refused, never lost), the
concern's words folded for search (lower case, no accents: "POUSSIÈRE" finds "poussière") and
the public reports drafted, reviewed and published from the desk

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 14:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.common.text import fold
from bot.storage.models import UTCDateTime


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('staff_account', schema=None) as batch_op:
        # Every account could do everything before roles: they keep it.
        batch_op.add_column(
            sa.Column('role', sa.String(length=16), nullable=False, server_default='manager')
        )
    with op.batch_alter_table('concern', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('version', sa.Integer(), nullable=False, server_default='1')
        )
        batch_op.add_column(
            sa.Column('search_text', sa.Text(), nullable=False, server_default='')
        )
    with op.batch_alter_table('concern', schema=None) as batch_op:
        batch_op.create_index(
            'ix_concern_awaiting', ['respond_by', 'received_at'], unique=False,
            sqlite_where=sa.text("status != 'closed' AND responded_at IS NULL"),
            postgresql_where=sa.text("status != 'closed' AND responded_at IS NULL"),
        )
    concern = sa.table(
        'concern', sa.column('id', sa.Integer()), sa.column('text', sa.Text()),
        sa.column('search_text', sa.Text()),
    )
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(concern.c.id, concern.c.text)
            .where(concern.c.id > last).order_by(concern.c.id).limit(1000)
        ).all()
        if not rows:
            break
        for row in rows:
            connection.execute(
                concern.update().where(concern.c.id == row.id)
                .values(search_text=fold(row.text or ''))
            )
        last = rows[-1].id
    op.create_table(
        'public_report',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('since', sa.Date(), nullable=False),
        sa.Column('until', sa.Date(), nullable=False),
        sa.Column('markdown', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_by', sa.String(length=120), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('edited_by', sa.String(length=120), nullable=True),
        sa.Column('edited_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('published_by', sa.String(length=120), nullable=True),
        sa.Column('published_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('public_report', schema=None) as batch_op:
        batch_op.create_index('ix_public_report_status', ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('public_report', schema=None) as batch_op:
        batch_op.drop_index('ix_public_report_status')
    op.drop_table('public_report')
    with op.batch_alter_table('concern', schema=None) as batch_op:
        batch_op.drop_index('ix_concern_awaiting')
        batch_op.drop_column('search_text')
        batch_op.drop_column('version')
    with op.batch_alter_table('staff_account', schema=None) as batch_op:
        batch_op.drop_column('role')
