"""transparency log: tlog_leaf (revision at each leaf index) and tlog_node (complete subtree
hashes), both append-only

The appender (``app/tlog/service.py``) only inserts. Like ``revision``, both tables refuse
UPDATE and DELETE (and TRUNCATE on PostgreSQL) with triggers, ENABLE ALWAYS on PostgreSQL; the
app role's grants leave it SELECT and INSERT on them (``app/schema/migrate.py``). The leaves
of existing revisions are appended by the first server (or ``claimtracker checkpoint
append``) after the migration, not here: a migration of a million revisions would hold the
schema lock for the whole build.

Revision ID: 3c9e5a1f7d20
Revises: f380c8cd671e
Create Date: 2026-11-30 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c9e5a1f7d20"
down_revision: str | None = "f380c8cd671e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("tlog_leaf", "tlog_node")
APPEND_ONLY = "the transparency log is append-only"


def upgrade() -> None:
    op.create_table(
        "tlog_leaf",
        sa.Column(
            "leaf_index",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("revision_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_tlog_leaf")),
        sa.UniqueConstraint("revision_id", name=op.f("uq_tlog_leaf_revision_id")),
    )
    op.create_table(
        "tlog_node",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("node_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "node_index", name=op.f("pk_tlog_node")),
    )
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
                )
        return
    op.execute(
        "CREATE FUNCTION tlog_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION tlog_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION tlog_append_only()"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only")
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate")


def downgrade() -> None:
    # Dropping a table drops its triggers.
    op.drop_table("tlog_node")
    op.drop_table("tlog_leaf")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS tlog_append_only()")
