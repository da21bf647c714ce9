"""revision.feed_xid: the change feed's order and watermark, without a global lock

Each revision records where it sorts in the change feed: on PostgreSQL the id of the
transaction that wrote it, or, when greater, the first transaction id not yet completed when the
row was inserted (``pg_snapshot_xmax``). The feed pages in ``(feed_xid, id)`` order up to the
oldest transaction still in flight (docs/history.md, "The change feed never skips"), so writers
no longer queue on one advisory lock. The second term keeps commit causality: a revision
written after another one's transaction committed sorts after it, even when its own transaction
took its id earlier (an entity's versions stay in order). Rows written before this migration
get 0: they keep their id order, ahead of everything written since. ``ix_revision_feed`` serves
that order (PostgreSQL only; migrations/env.py keeps it out of the model comparison).

SQLite keeps 0 for every row: one writer at a time, so id order is commit order there. A plain
ADD COLUMN (no batch table copy), so the revision table's guard triggers stay in place.

Revision ID: 3c7d2e9a41f6
Revises: 5e1f0a7c2b94
Create Date: 2026-11-30 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c7d2e9a41f6"
down_revision: str | None = "5e1f0a7c2b94"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEED_XID = (
    "GREATEST(pg_current_xact_id()::text::bigint, "
    "pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"
)


def upgrade() -> None:
    # A constant default fills existing rows without rewriting the table (PostgreSQL 11+).
    op.add_column(
        "revision", sa.Column("feed_xid", sa.BigInteger(), nullable=False, server_default="0")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE revision ALTER COLUMN feed_xid SET DEFAULT {FEED_XID}")
        op.create_index("ix_revision_feed", "revision", ["feed_xid", "id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_revision_feed", table_name="revision")
    # A plain DROP COLUMN (SQLite 3.35+), not a batch copy that would lose the triggers.
    op.drop_column("revision", "feed_xid")
