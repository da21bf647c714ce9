"""revision.feed_xid: a committed revision is below the watermark at once

The first feed_xid default took, as its second term, the first transaction id not yet assigned
when the row was inserted (``pg_snapshot_xmax``). A transaction that had its id before writing
its revision (an edit: the row lock takes one) then stored exactly the id the next transaction
would get; once it committed with nothing else in flight, the watermark (that same next id) did
not pass it, and the feed showed the edit only after someone else wrote. One less keeps what
the term is for: a revision written after another transaction committed sorts after that
one's (``xmax - 1`` is at least that transaction's id, ties go to the later revision id), and
everything at or below it has ended by the time its own transaction commits.

Rows already written keep their value; one that sits at the next id shows at the next write.

Revision ID: 8d2b6f4e1a37
Revises: 3c7d2e9a41f6
Create Date: 2026-11-30 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8d2b6f4e1a37"
down_revision: str | None = "3c7d2e9a41f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEED_XID = (
    "GREATEST(pg_current_xact_id()::text::bigint, "
    "pg_snapshot_xmax(pg_current_snapshot())::text::bigint - 1)"
)
PREVIOUS_FEED_XID = (
    "GREATEST(pg_current_xact_id()::text::bigint, "
    "pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE revision ALTER COLUMN feed_xid SET DEFAULT {FEED_XID}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE revision ALTER COLUMN feed_xid SET DEFAULT {PREVIOUS_FEED_XID}")
