"""work stored wakes the process that does it: on PostgreSQL, a platform update stored in the
intake or a message queued in the outbox notifies the channel "voisinage" with
"<table>:<platform>" (LISTEN/NOTIFY), whichever process stored it. Nothing on SQLite.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 18:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('inbound_update', 'outbox_message')


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION voisinage_notify_work() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('voisinage', TG_TABLE_NAME || ':' || NEW.channel);
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION voisinage_notify_work()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
    op.execute("DROP FUNCTION IF EXISTS voisinage_notify_work()")
