"""webhook outbox: endpoints, subscriptions, deliveries and attempts; the revision trigger

Issue 12's webhooks. A delivery is enqueued by the database in the transaction that inserts a
revision, so a change is never announced without being committed nor committed without being
announced, and the write path gains no round trip (tests/claims/test_service_statements.py):

- SQLite: an AFTER INSERT row trigger on ``revision``, WHEN an enabled endpoint exists (a desk
  without webhooks pays one probe of an empty table per revision).
- PostgreSQL: an AFTER INSERT statement trigger with a transition table (one INSERT ... SELECT
  per statement, a COPY of a batch import included), which returns at once when no endpoint is
  enabled. ENABLE ALWAYS, like the revision guards: a session in replica mode still enqueues.

Each enabled endpoint whose subscriptions match ``<entity_type>.<action>`` gets one row, which
copies the revision's ``feed_xid`` so the dispatcher can send in the change feed's order.
Independent of the other migrations of issue 12 (the stream's NOTIFY trigger): only the
revision table is shared, and each trigger has its own name.

Revision ID: f380c8cd671e
Revises: 8d4b6f1e2a37
Create Date: 2026-11-30 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "f380c8cd671e"
down_revision: str | None = "8d4b6f1e2a37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("secret", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("previous_secret", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("previous_secret_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("failing_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("disabled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("disabled_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoint")),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.BigInteger(), nullable=False),
        sa.Column("feed_xid", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=41), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "failed",
                name="delivery_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("lease_token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_response_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("replay_of", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoint.id"],
            name=op.f("fk_webhook_delivery_endpoint_id_webhook_endpoint"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
    )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_delivery_queue",
            ["endpoint_id", "status", "feed_xid", "revision_id", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_delivery_revision_id"), ["revision_id"], unique=False
        )

    op.create_table(
        "webhook_subscription",
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoint.id"],
            name=op.f("fk_webhook_subscription_endpoint_id_webhook_endpoint"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "endpoint_id", "entity_type", "action", name=op.f("pk_webhook_subscription")
        ),
    )
    op.create_table(
        "webhook_attempt",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("attempted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "delivered",
                "http_error",
                "timeout",
                "network_error",
                "refused",
                name="attempt_outcome",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_delivery.id"],
            name=op.f("fk_webhook_attempt_delivery_id_webhook_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempt")),
    )
    with op.batch_alter_table("webhook_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_attempt_delivery_id"), ["delivery_id"], unique=False
        )

    create_outbox_trigger()


def downgrade() -> None:
    drop_outbox_trigger()
    with op.batch_alter_table("webhook_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_attempt_delivery_id"))

    op.drop_table("webhook_attempt")
    op.drop_table("webhook_subscription")
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_delivery_revision_id"))
        batch_op.drop_index("ix_webhook_delivery_queue")

    op.drop_table("webhook_delivery")
    op.drop_table("webhook_endpoint")


# The columns the trigger fills; the rest keep their defaults (NULL: due now, no lease).
_INSERT = (
    "INSERT INTO webhook_delivery (endpoint_id, revision_id, feed_xid, event_type, status, "
    "attempts, created_at) "
)
_MATCHES = (
    "EXISTS (SELECT 1 FROM webhook_subscription s WHERE s.endpoint_id = e.id "
    "AND s.entity_type IN ({rev}.entity_type, '*') AND s.action IN ({rev}.action, '*'))"
)


def create_outbox_trigger() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER revision_webhook_outbox AFTER INSERT ON revision "
            "WHEN EXISTS (SELECT 1 FROM webhook_endpoint WHERE enabled) BEGIN "
            + _INSERT
            + "SELECT e.id, NEW.id, NEW.feed_xid, NEW.entity_type || '.' || NEW.action, "
            "'pending', 0, NEW.recorded_at FROM webhook_endpoint e WHERE e.enabled AND "
            + _MATCHES.format(rev="NEW")
            + "; END"
        )
        return
    op.execute(
        "CREATE FUNCTION webhook_outbox_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        "IF NOT EXISTS (SELECT 1 FROM webhook_endpoint WHERE enabled) THEN RETURN NULL; END IF; "
        + _INSERT
        + "SELECT e.id, r.id, r.feed_xid, r.entity_type || '.' || r.action, 'pending', 0, "
        "r.recorded_at FROM new_revisions r JOIN webhook_endpoint e ON e.enabled AND "
        + _MATCHES.format(rev="r")
        + "; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER revision_webhook_outbox AFTER INSERT ON revision "
        "REFERENCING NEW TABLE AS new_revisions FOR EACH STATEMENT "
        "EXECUTE FUNCTION webhook_outbox_enqueue()"
    )
    op.execute("ALTER TABLE revision ENABLE ALWAYS TRIGGER revision_webhook_outbox")


def drop_outbox_trigger() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS revision_webhook_outbox"
        + ("" if op.get_bind().dialect.name == "sqlite" else " ON revision")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS webhook_outbox_enqueue()")
