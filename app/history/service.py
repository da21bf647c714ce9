"""Recording and reading the change history: the ledger.

``record`` is the one function through which every change of every tracked entity is written:
the caller (``app.tracked``) mutates the entity, passes the snapshots before and after, and
commits once. The reads take a ``Connection`` (a router's ``Database.read``, or a session's
``session.connection()``); revisions never change, so no read needs a transaction.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection, Table, text
from sqlmodel import Session

from app.auth.actor import Actor
from app.core import errors
from app.core.base import utcnow
from app.core.bulk import DRIVER_MIN_ROWS, insert_rows
from app.core.request_record import note_revision
from app.history.hashing import revision_hash
from app.history.models import SCHEMA_VERSION, EntityType, Revision, RevisionAction
from app.history.snapshots import diff_snapshots

revision_table = Revision.__table__  # type: ignore[attr-defined]


class Versioned(Protocol):
    """What ``record`` keeps up to date on the entity a revision belongs to (``app.tracked``'s
    ``Tracked`` models; the entity's ``id`` too, set by the first flush)."""

    version: int
    head_hash: str | None
    created_at: datetime
    updated_at: datetime


def record(
    session: Session,
    entity: Versioned,
    *,
    entity_type: EntityType,
    action: RevisionAction,
    before: dict[str, Any],
    after: dict[str, Any],
    actor: Actor,
    reason: str | None = None,
    reverted_to: int | None = None,
) -> int | None:
    """Append the revision for one change, bump the entity's version and head hash; flush only.

    Returns the revision's id, or ``None`` and touches nothing when the change changes nothing.
    """
    changes = diff_snapshots(before, after)
    if not changes and action is not RevisionAction.created:
        return None

    recorded_at = utcnow()
    if action is RevisionAction.created:
        entity.version = 1
        entity.created_at = recorded_at
        entity.updated_at = recorded_at
        session.add(entity)
        session.flush()  # assigns the id the revision names
        prev_hash = None
    else:
        prev_hash = entity.head_hash
        entity.version += 1
        entity.updated_at = recorded_at
    entity_id = entity.id  # type: ignore[attr-defined]
    assert isinstance(entity_id, int)

    values = _revision_values(
        entity_type=entity_type,
        entity_id=entity_id,
        version=entity.version,
        action=action,
        reverted_to=reverted_to,
        recorded_at=recorded_at,
        actor=actor,
        reason=reason,
        prev_hash=prev_hash,
        changes=changes,
        snapshot=after,
    )
    entity.head_hash = values["hash"]
    session.add(entity)
    session.flush()
    # A Core INSERT: a Revision object through the unit of work cost a fifth of an update's
    # CPU (bench/history_cost.py profile), and no caller needs the object.
    revision_id: int = (
        session.connection()
        .execute(sa.insert(revision_table).returning(revision_table.c.id), values)
        .scalar_one()
    )
    note_revision(str(entity_type), str(action), revision_id)
    return revision_id


def _revision_values(
    *,
    entity_type: EntityType,
    entity_id: int,
    version: int,
    action: RevisionAction,
    reverted_to: int | None,
    recorded_at: datetime,
    actor: Actor,
    reason: str | None,
    prev_hash: str | None,
    changes: dict[str, Any],
    snapshot: dict[str, Any],
) -> dict[str, Any]:
    """The columns of one revision, its hash included (``record`` and ``record_creations``)."""
    values: dict[str, Any] = {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "version": version,
        "action": action,
        "reverted_to": reverted_to,
        "recorded_at": recorded_at,
        "actor_key_id": actor.key_id,
        "actor_name": actor.name,
        "actor_role": str(actor.role),
        "reason": reason,
        "request_id": actor.request_id,
        "schema_version": SCHEMA_VERSION,
        "prev_hash": prev_hash,
    }
    values["hash"] = revision_hash(**values, snapshot=snapshot, changes=changes)
    values["changes"] = changes
    values["snapshot"] = snapshot
    return values


def reserve_ids(conn: Connection, table: Table, count: int) -> list[int]:
    """``count`` fresh ids for ``table``, so a batch can name its rows (and hash their
    revisions) before one INSERT writes them all.

    PostgreSQL draws them from the column's sequence. SQLite hands out max(id) + 1 itself, and
    a writer holds the database lock (BEGIN IMMEDIATE) until it commits, so the next ids are
    the same ones an INSERT would have taken.
    """
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text("SELECT nextval(pg_get_serial_sequence(:name, 'id')) FROM generate_series(1, :n)"),
            {"name": table.name, "n": count},
        )
        return sorted(row[0] for row in rows)
    highest = conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
    return list(range(highest + 1, highest + 1 + count))


def record_creations(
    conn: Connection,
    *,
    entity_type: EntityType,
    created: Sequence[tuple[int, dict[str, Any]]],
    recorded_at: datetime,
    actor: Actor,
    reason: str | None = None,
) -> list[str]:
    """The creation revisions of a batch of new entities, ``(id, snapshot)`` each, written
    in bulk (``insert_rows``) in the caller's transaction; returns each one's hash (the
    entity's head_hash). The batch twin of ``record`` for action ``created``: the same rows,
    the same hashes, a few statements instead of one per entity."""
    if not created:
        return []
    rows = [
        _revision_values(
            entity_type=entity_type,
            entity_id=entity_id,
            version=1,
            action=RevisionAction.created,
            reverted_to=None,
            recorded_at=recorded_at,
            actor=actor,
            reason=reason,
            prev_hash=None,
            changes=diff_snapshots({}, snapshot),
            snapshot=snapshot,
        )
        for entity_id, snapshot in created
    ]
    if len(rows) < DRIVER_MIN_ROWS:
        # RETURNING the ids for the request's log line (one round trip for one row).
        returning = sa.insert(revision_table).returning(
            revision_table.c.id, sort_by_parameter_order=True
        )
        ids = [int(revision_id) for (revision_id,) in conn.execute(returning, rows)]
    else:
        # Named before they are written, so the batch goes in with COPY / multi-row INSERTs.
        ids = reserve_ids(conn, revision_table, len(rows))
        for row, revision_id in zip(rows, ids, strict=True):
            row["id"] = revision_id
        insert_rows(conn, revision_table, rows)
    for revision_id in ids:
        note_revision(str(entity_type), str(RevisionAction.created), revision_id)
    return [row["hash"] for row in rows]


# --- reads ---------------------------------------------------------------------------------


def _revision(row: Any) -> Revision:
    return Revision(**row._mapping)


def _of_entity(entity_type: EntityType, entity_id: int) -> sa.Select[Any]:
    return sa.select(revision_table).where(
        revision_table.c.entity_type == entity_type, revision_table.c.entity_id == entity_id
    )


def list_revisions(
    conn: Connection,
    entity_type: EntityType,
    entity_id: int,
    *,
    after_version: int = 0,
    limit: int = 50,
) -> list[Revision]:
    statement = (
        _of_entity(entity_type, entity_id)
        .where(revision_table.c.version > after_version)
        .order_by(revision_table.c.version)
        .limit(limit)
    )
    return [_revision(row) for row in conn.execute(statement)]


def get_revision(
    conn: Connection, entity_type: EntityType, entity_id: int, version: int
) -> Revision:
    statement = _of_entity(entity_type, entity_id).where(revision_table.c.version == version)
    row = conn.execute(statement).first()
    if row is None:
        raise errors.NotFound(f"{entity_type} {entity_id} has no version {version}.")
    return _revision(row)


def revision_as_of(
    conn: Connection,
    entity_type: EntityType,
    entity_id: int,
    *,
    version: int | None = None,
    at: datetime | None = None,
) -> Revision:
    """The revision in force at a version or a moment (the last one at or before it)."""
    statement = _of_entity(entity_type, entity_id)
    if version is not None:
        statement = statement.where(revision_table.c.version <= version)
    if at is not None:
        # Ordered by the indexed timestamp, so the index serves the order too.
        statement = statement.where(revision_table.c.recorded_at <= at).order_by(
            revision_table.c.recorded_at.desc()
        )
    statement = statement.order_by(revision_table.c.version.desc())
    row = conn.execute(statement.limit(1)).first()
    if row is None:
        when = f"version {version}" if version is not None else f"{at.isoformat() if at else ''}"
        raise errors.NotFound(f"{entity_type} {entity_id} did not exist at {when}.")
    return _revision(row)


def diff_versions(
    conn: Connection, entity_type: EntityType, entity_id: int, from_version: int, to_version: int
) -> dict[str, dict[str, Any]]:
    older = get_revision(conn, entity_type, entity_id, from_version)
    newer = get_revision(conn, entity_type, entity_id, to_version)
    return diff_snapshots(older.snapshot, newer.snapshot)


# PostgreSQL hands out a revision id at insert and makes it visible at commit, in another
# order. The feed therefore pages in (feed_xid, id) order and shows a revision only once every
# transaction older than the reader's snapshot has ended (docs/history.md).
_WATERMARK = sa.literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint", sa.BigInteger
)
_OWN_TRANSACTION = sa.literal_column(
    "pg_current_xact_id_if_assigned()::text::bigint", sa.BigInteger
)
_NO_BOUND = sa.literal(2**63 - 1, sa.BigInteger)


def changes_feed(
    conn: Connection,
    *,
    after: int = 0,
    entity_type: EntityType | None = None,
    limit: int = 100,
) -> list[Revision]:
    """Revisions after the position of revision ``after``, in the feed's order: a page that no
    later commit can insert into. One statement, so the watermark and the rows come from one
    snapshot."""
    statement = _feed(conn, after)
    if entity_type is not None:
        statement = statement.where(revision_table.c.entity_type == entity_type)
    return [_revision(row) for row in conn.execute(statement.limit(limit))]


def feed_hashes(conn: Connection, *, after: int = 0, limit: int = 1000) -> list[tuple[int, str]]:
    """``(id, hash)`` of the revisions after the position of revision ``after``, in the
    feed's order, with the feed's guarantee: what the transparency log appends as leaves."""
    statement = _feed(conn, after).with_only_columns(revision_table.c.id, revision_table.c.hash)
    return [(row.id, row.hash) for row in conn.execute(statement.limit(limit))]


def feed_entities(
    conn: Connection, *, after: int = 0, limit: int = 1000
) -> list[tuple[int, str, int, str]]:
    """``(id, entity_type, entity_id, action)`` of the revisions after the position of
    revision ``after``, in the feed's order, with the feed's guarantee: what the similar-claims
    matcher follows (no snapshot or changes read)."""
    r = revision_table.c
    statement = _feed(conn, after).with_only_columns(r.id, r.entity_type, r.entity_id, r.action)
    rows = conn.execute(statement.limit(limit))
    return [(row.id, row.entity_type, row.entity_id, row.action) for row in rows]


def _feed(conn: Connection, after: int) -> sa.Select[Any]:
    if conn.dialect.name == "postgresql":
        statement = _feed_below_watermark(after)
        return statement.order_by(revision_table.c.feed_xid, revision_table.c.id)
    # One writer at a time: id order is commit order.
    statement = sa.select(revision_table).where(revision_table.c.id > after)
    return statement.order_by(revision_table.c.id)


def _feed_below_watermark(after: int) -> sa.Select[Any]:
    """PostgreSQL: the rows after ``after``'s position and below the watermark.

    ``after``'s position is that of the revision with the greatest id at or below it (the
    revision itself, for every id the feed hands out); 0, or an id below every revision, is the
    start. The watermark is the oldest transaction still in flight when the statement's
    snapshot was taken: every transaction below it has ended, and every row still to commit
    has a ``feed_xid`` at or above it, so it sorts after this page. Inside a transaction that
    has written (tests read their own writes so), everything from that transaction's id on is
    shown too: its own revisions among them, which no watermark would reach before its commit.
    """
    cursor = (
        sa.select(revision_table.c.feed_xid, revision_table.c.id)
        .where(revision_table.c.id <= after)
        .order_by(revision_table.c.id.desc())
        .limit(1)
        .cte("feed_cursor")
    )
    cursor_xid = sa.func.coalesce(sa.select(cursor.c.feed_xid).scalar_subquery(), -1)
    cursor_id = sa.func.coalesce(sa.select(cursor.c.id).scalar_subquery(), 0)
    return sa.select(revision_table).where(
        sa.tuple_(revision_table.c.feed_xid, revision_table.c.id)
        > sa.tuple_(cursor_xid, cursor_id),
        *_below_watermark(),
    )


def _below_watermark() -> tuple[sa.ColumnElement[bool], ...]:
    """PostgreSQL: the revisions the feed may show now (``_feed_below_watermark``)."""
    feed_xid = revision_table.c.feed_xid
    # Without a transaction id of its own (every read of the app), the watermark alone: the
    # bound the index scan stops at.
    upper = sa.case((_OWN_TRANSACTION.is_(None), _WATERMARK), else_=_NO_BOUND)
    return (feed_xid < upper, sa.or_(feed_xid < _WATERMARK, feed_xid >= _OWN_TRANSACTION))


def feed_head(dialect: str) -> sa.Select[Any]:
    """One row, ``(feed_xid, id)``, of the feed's last revision (no row: an empty feed). It
    changes whenever a revision enters the feed and never otherwise, so it marks "nothing new
    was committed" (the public pages' cache). SQLite: the greatest id (id order is commit
    order), feed_xid 0. PostgreSQL: the greatest ``(feed_xid, id)`` below the watermark, the
    end of the feed's index; a revision committed behind a transaction still in flight moves
    it when that transaction ends, as it enters the feed then."""
    if dialect == "postgresql":
        return (
            sa.select(revision_table.c.feed_xid, revision_table.c.id)
            .where(*_below_watermark())
            .order_by(revision_table.c.feed_xid.desc(), revision_table.c.id.desc())
            .limit(1)
        )
    return (
        sa.select(sa.literal(0).label("feed_xid"), revision_table.c.id)
        .order_by(revision_table.c.id.desc())
        .limit(1)
    )
