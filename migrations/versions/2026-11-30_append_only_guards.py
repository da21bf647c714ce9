"""append-only guards: no write form may overwrite a revision

SQLite: ``REPLACE INTO revision`` / ``INSERT OR REPLACE`` delete the clashing row without
firing the DELETE trigger (unless a connection turns recursive_triggers on), so a BEFORE INSERT
trigger refuses any insert whose id or (entity_type, entity_id, version) is already stored;
it runs before the conflict is resolved. In a BEFORE INSERT trigger an id the database has
yet to assign reads as -1, so an AFTER INSERT trigger keeps ids positive: no stored row can
ever match that placeholder. Upserts (ON CONFLICT DO UPDATE) already meet the UPDATE trigger.

PostgreSQL: the UPDATE/DELETE/TRUNCATE triggers exist; they become ENABLE ALWAYS so that a
session in ``session_replication_role = replica`` (which skips ordinary triggers) still meets
them. Disabling them needs the table's owner, which the app's role is not (docs/deploy.md).

Revision ID: 5e1f0a7c2b94
Revises: 77cb08caed0c
Create Date: 2026-11-30 06:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5e1f0a7c2b94"
down_revision: str | None = "77cb08caed0c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVISION_IS_APPEND_ONLY = "revision is append-only: history is never updated or deleted"
POSTGRES_TRIGGERS = ("revision_append_only", "revision_no_truncate")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER revision_no_overwrite BEFORE INSERT ON revision "
            "WHEN EXISTS (SELECT 1 FROM revision WHERE id = NEW.id) "
            "OR EXISTS (SELECT 1 FROM revision WHERE entity_type = NEW.entity_type "
            "AND entity_id = NEW.entity_id AND version = NEW.version) "
            f"BEGIN SELECT RAISE(ABORT, '{REVISION_IS_APPEND_ONLY}'); END"
        )
        op.execute(
            "CREATE TRIGGER revision_positive_id AFTER INSERT ON revision WHEN NEW.id < 1 "
            "BEGIN SELECT RAISE(ABORT, 'revision ids are positive'); END"
        )
        return
    for name in POSTGRES_TRIGGERS:
        op.execute(f"ALTER TABLE revision ENABLE ALWAYS TRIGGER {name}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS revision_positive_id")
        op.execute("DROP TRIGGER IF EXISTS revision_no_overwrite")
        return
    for name in POSTGRES_TRIGGERS:
        op.execute(f"ALTER TABLE revision ENABLE TRIGGER {name}")
