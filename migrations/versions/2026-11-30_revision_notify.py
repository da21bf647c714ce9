"""revision: NOTIFY claims_revisions after each INSERT statement (the change stream's wake-up)

A statement-level AFTER INSERT trigger on ``revision`` calls ``pg_notify('claims_revisions',
'')``. PostgreSQL delivers a notification when the transaction commits (never for one that rolls
back) and folds identical ones of one transaction into one, so each committed write wakes the
listening processes once, and the write path runs no statement more (issue 11 counts them): the
trigger fires inside the INSERT the write makes anyway. The payload is empty on purpose: a
listener re-reads the feed, whose order and watermark are the only truth (docs/stream.md).

SQLite has no NOTIFY: its streams poll, and a process wakes its own streams after its group
writer commits.

Revision ID: 8d4b6f1e2a37
Revises: 8d2b6f4e1a37
Create Date: 2026-11-30 17:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8d4b6f1e2a37"
down_revision: str | None = "8d2b6f4e1a37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "claims_revisions"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION revision_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END;
        $$
        """
    )
    # ALWAYS, like the append-only guards: a session in replica mode wakes the streams too.
    op.execute(
        "CREATE TRIGGER revision_notify AFTER INSERT ON revision "
        "FOR EACH STATEMENT EXECUTE FUNCTION revision_notify()"
    )
    op.execute("ALTER TABLE revision ENABLE ALWAYS TRIGGER revision_notify")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER revision_notify ON revision")
    op.execute("DROP FUNCTION revision_notify()")
