"""The transparency log: appending revisions as leaves, and the reads proofs need.

**Appending.** ``append_batch`` reads the change feed after the revision at the last leaf (the
feed's own query, so it never skips a committed revision and keeps its order) and appends the
revisions it finds as leaves, with every subtree they complete, in one transaction. Only the
appender is serialised: a transaction-level advisory lock on PostgreSQL, the write lock on
SQLite (whose writers take turns anyway); the writers of revisions take no lock for it. On
PostgreSQL the feed is read *before* the transaction writes anything, so that it sees only
what the visibility watermark lets through (``app.history.service.changes_feed``).

**Reading.** A root, an inclusion proof and a consistency proof each need at most log2(n)²
stored subtree hashes (``app.tlog.merkle``), read with one statement.
"""

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session

from app.core import errors
from app.core.bulk import insert_rows
from app.history import service as history_service
from app.tlog import merkle
from app.tlog.merkle import Node
from app.tlog.models import ConsistencyProof, InclusionProof, TlogLeaf, TlogNode
from app.vocabulary.tlog import leaf_hash

leaf_table: sa.Table = TlogLeaf.__table__  # type: ignore[attr-defined]
node_table: sa.Table = TlogNode.__table__  # type: ignore[attr-defined]

# pg_advisory_xact_lock's key for the appender: 'tlog' in ASCII.
APPENDER_LOCK = 0x746C6F67
BATCH = 5000


# --- appending -----------------------------------------------------------------------------


def last_leaf(conn: Connection) -> tuple[int, int]:
    """``(tree size, revision id at the last leaf)``; ``(0, 0)`` for an empty log."""
    row = conn.execute(
        sa.select(leaf_table.c.leaf_index, leaf_table.c.revision_id)
        .order_by(leaf_table.c.leaf_index.desc())
        .limit(1)
    ).first()
    return (0, 0) if row is None else (row.leaf_index + 1, row.revision_id)


def tree_size(conn: Connection) -> int:
    return last_leaf(conn)[0]


def append_batch(session: Session, *, limit: int = BATCH) -> int:
    """Append up to ``limit`` revisions the log does not hold yet, in the feed's order, and
    commit; returns how many."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPENDER_LOCK})
    size, after = last_leaf(conn)
    pending = history_service.feed_hashes(conn, after=after, limit=limit)
    if not pending:
        session.commit()  # ends the transaction and frees the lock
        return 0
    frontier_nodes = merkle.range_nodes(0, size)
    stored = read_nodes(conn, frontier_nodes)
    frontier = [(node, stored[node]) for node in frontier_nodes]
    leaves = [leaf_hash(bytes.fromhex(revision_hash)) for _, revision_hash in pending]
    new_nodes = merkle.append_leaves(frontier, size, leaves)
    insert_rows(
        conn,
        leaf_table,
        [
            {"leaf_index": size + offset, "revision_id": revision_id}
            for offset, (revision_id, _) in enumerate(pending)
        ],
    )
    insert_rows(
        conn,
        node_table,
        [
            {"level": level, "node_index": index, "hash": value}
            for (level, index), value in new_nodes
        ],
    )
    session.commit()
    return len(pending)


def catch_up(session: Session, *, limit: int = BATCH) -> int:
    """Append every revision the feed shows that the log does not hold yet, ``limit`` per
    transaction; returns how many."""
    total = 0
    while True:
        appended = append_batch(session, limit=limit)
        total += appended
        if appended < limit:
            return total


def is_behind(conn: Connection) -> bool:
    """Whether the feed shows a revision the log does not hold yet (one cheap read)."""
    return bool(history_service.feed_hashes(conn, after=last_leaf(conn)[1], limit=1))


# --- reading -------------------------------------------------------------------------------


def read_nodes(conn: Connection, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes of these subtrees, in one statement (a few hundred at most)."""
    wanted = sorted(set(nodes))
    if not wanted:
        return {}
    by_level: dict[int, list[int]] = {}
    for level, index in wanted:
        by_level.setdefault(level, []).append(index)
    # One "level = l AND node_index IN (…)" per level, OR-ed: both databases search the primary
    # key for each (SQLite scans the table for a row-value IN list).
    rows = conn.execute(
        sa.select(node_table.c.level, node_table.c.node_index, node_table.c.hash).where(
            sa.or_(
                *(
                    (node_table.c.level == level) & node_table.c.node_index.in_(indexes)
                    for level, indexes in by_level.items()
                )
            )
        )
    )
    found = {(row.level, row.node_index): bytes(row.hash) for row in rows}
    missing = [node for node in wanted if node not in found]
    if missing:  # only a tampered table or a bug: never answer a proof from a hole
        raise RuntimeError(f"the transparency log lacks stored subtrees {missing[:5]}")
    return found


def root_hash(conn: Connection, size: int) -> bytes:
    """MTH of the first ``size`` leaves; SHA-256 of nothing for the empty tree."""
    if size == 0:
        return merkle.EMPTY_ROOT
    return merkle.range_hash(0, size, read_nodes(conn, merkle.range_nodes(0, size)))


def _checked_size(conn: Connection, size: int | None, name: str) -> int:
    current = last_leaf(conn)[0]
    if size is None:
        return current
    if size > current:
        raise errors.NotFound(
            f"The log holds {current} revisions; there is no tree of {size} ({name}) yet."
        )
    return size


def leaf_of(conn: Connection, revision_id: int) -> int | None:
    """The leaf index of a revision, or None while the log does not hold it."""
    found: Any = conn.execute(
        sa.select(leaf_table.c.leaf_index).where(leaf_table.c.revision_id == revision_id)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def inclusion_proof(conn: Connection, revision_id: int, tree_size: int | None) -> InclusionProof:
    index = leaf_of(conn, revision_id)
    if index is None:
        raise errors.NotFound(
            f"Revision {revision_id} is not in the log: there is no such revision, or it was "
            "committed a moment ago behind a transaction still open (ask again)."
        )
    size = _checked_size(conn, tree_size, "tree_size")
    if index >= size:
        raise errors.ConflictingParameters(
            f"Revision {revision_id} is leaf {index}: it is not in a tree of {size} leaves.",
            names=("revision_id", "tree_size"),
        )
    ranges = merkle.inclusion_ranges(index, size)
    stored = read_nodes(conn, merkle.nodes_of([*ranges, (index, index + 1)]))
    return InclusionProof(
        revision_id=revision_id,
        leaf_index=index,
        tree_size=size,
        leaf_hash=stored[(0, index)].hex(),
        audit_path=[merkle.range_hash(start, end, stored).hex() for start, end in ranges],
    )


def consistency_proof(conn: Connection, first: int, second: int | None) -> ConsistencyProof:
    second = _checked_size(conn, second, "second")
    if first > second:
        raise errors.ConflictingParameters(
            f"first ({first}) is larger than second ({second}).", names=("first", "second")
        )
    ranges = merkle.consistency_ranges(first, second)
    stored = read_nodes(conn, merkle.nodes_of(ranges))
    return ConsistencyProof(
        first=first,
        second=second,
        proof=[merkle.range_hash(start, end, stored).hex() for start, end in ranges],
    )


def leaf_of_version(
    conn: Connection, entity_type: str, entity_id: int, version: int
) -> tuple[int, int | None] | None:
    """``(revision id, leaf index or None while not logged)`` of an entity's version."""
    revision = history_service.revision_table
    row = conn.execute(
        sa.select(revision.c.id, leaf_table.c.leaf_index)
        .select_from(revision.outerjoin(leaf_table, leaf_table.c.revision_id == revision.c.id))
        .where(
            revision.c.entity_type == entity_type,
            revision.c.entity_id == entity_id,
            revision.c.version == version,
        )
    ).first()
    return None if row is None else (row.id, row.leaf_index)
