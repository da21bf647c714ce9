"""Checking the database against the transparency log, and against a checkpoint saved earlier.

Each leaf is re-hashed from its revision's *content* (not its stored ``hash``), so a revision
rewritten with recomputed chain hashes gives another leaf. Then:

- the leaves run 0..n-1 and each names a revision that exists;
- each recomputed leaf equals the stored leaf hash (the tree the server signs and proves from
  is the tree of the revisions stored now);
- every revision is in a leaf, or still waiting in the change feed for the appender;
- with a checkpoint: the log still has at least its ``tree_size`` leaves (not truncated), the
  first ``tree_size`` recomputed leaves give its root (nothing deleted, rewritten or
  reordered), and the consistency proof the server would serve from its stored subtrees
  verifies from that root to the current one.
"""

from collections.abc import Mapping

from sqlalchemy import Connection, Table, exists, func, select, tuple_

from app.core import errors
from app.core.settings import Settings
from app.history.models import Revision
from app.history.verify import content_hash, verify_history
from app.tlog import merkle, service
from app.tlog.models import HistoryReport, LogReport
from app.tlog.signing import current_checkpoint
from app.vocabulary.tlog import Checkpoint, leaf_hash, verify_consistency

revision_table = Revision.__table__  # type: ignore[attr-defined]


def verify_log(conn: Connection, checkpoint: Checkpoint | None = None) -> LogReport:
    """Run on a connection that sees one snapshot (``Database.read_connection(snapshot=True)``)."""
    size, last_revision = service.last_leaf(conn)
    problem, frontier, checkpoint_root = _replay(conn, size, checkpoint)
    pending = _pending(conn, last_revision)
    if problem is None and isinstance(pending, str):
        problem = pending
    if problem is None and checkpoint is not None:
        problem = _against(conn, checkpoint, size, checkpoint_root)
    if problem is None and merkle.frontier_root(frontier) != service.root_hash(conn, size):
        problem = "the stored subtree hashes do not give the root of the stored leaves"
    return LogReport(
        ok=problem is None,
        tree_size=size,
        pending=pending if isinstance(pending, int) else 0,
        checkpoint_size=None if checkpoint is None else checkpoint.size,
        problem=problem,
    )


def _replay(
    conn: Connection, size: int, checkpoint: Checkpoint | None
) -> tuple[str | None, list[tuple[merkle.Node, bytes]], bytes | None]:
    """Recompute every leaf from its revision's content, in leaf order: the first problem,
    the frontier of the recomputed tree, and its root at the checkpoint's size."""
    leaves = service.leaf_table
    nodes = service.node_table
    statement = (
        select(leaves.c.leaf_index, leaves.c.revision_id, nodes.c.hash.label("stored_leaf"))
        .add_columns(*[column.label(f"r_{column.name}") for column in revision_table.c])
        .select_from(
            leaves.outerjoin(revision_table, revision_table.c.id == leaves.c.revision_id).outerjoin(
                nodes, (nodes.c.level == 0) & (nodes.c.node_index == leaves.c.leaf_index)
            )
        )
        .order_by(leaves.c.leaf_index)
        .execution_options(yield_per=2000)
    )
    frontier: list[tuple[merkle.Node, bytes]] = []
    checkpoint_root = merkle.EMPTY_ROOT if checkpoint is not None and checkpoint.size == 0 else None
    with conn.execute(statement) as result:
        for expected, row in enumerate(result):
            if row.leaf_index != expected:
                return f"leaf {expected} is missing from the log", frontier, checkpoint_root
            if row.r_id is None:
                return (
                    f"leaf {expected} names revision {row.revision_id}, which is not stored "
                    "(deleted)",
                    frontier,
                    checkpoint_root,
                )
            leaf = leaf_hash(bytes.fromhex(content_hash(_Revision(row))))
            if row.stored_leaf is None or bytes(row.stored_leaf) != leaf:
                return (
                    f"leaf {expected} (revision {row.revision_id}) does not match the revision's "
                    "content: the revision was rewritten after it was logged",
                    frontier,
                    checkpoint_root,
                )
            merkle.push(frontier, expected, leaf)
            if checkpoint is not None and expected + 1 == checkpoint.size:
                checkpoint_root = merkle.frontier_root(frontier)
    if len(frontier) and sum(1 << level for (level, _), _ in frontier) != size:
        return "the log's leaf count does not add up", frontier, checkpoint_root
    return None, frontier, checkpoint_root


class _Revision:
    """A joined row's revision columns under their own names, for ``content_hash``."""

    def __init__(self, row: object) -> None:
        for column in revision_table.c:
            setattr(self, column.name, getattr(row, f"r_{column.name}"))


def _pending(conn: Connection, last_revision: int) -> int | str:
    """How many revisions wait for the appender (after the last leaf's revision in feed
    order), or the problem if a revision in no leaf sorts before it: the appender has passed
    its place, so it was written behind the log's back."""
    leaves = service.leaf_table
    unlogged = select(revision_table.c.id).where(
        ~exists().where(leaves.c.revision_id == revision_table.c.id)
    )
    if conn.dialect.name == "postgresql":
        cursor_xid = (
            select(revision_table.c.feed_xid)
            .where(revision_table.c.id == last_revision)
            .scalar_subquery()
        )
        position = tuple_(revision_table.c.feed_xid, revision_table.c.id)
        behind = position < tuple_(func.coalesce(cursor_xid, -1), last_revision)
    else:  # feed order is id order
        behind = revision_table.c.id < last_revision
    passed = conn.execute(unlogged.where(behind).order_by(revision_table.c.id).limit(1)).first()
    if passed is not None:
        return (
            f"revision {passed.id} is in no leaf, but the log has passed its place in the "
            "change feed: it was inserted behind the log's back"
        )
    return int(conn.execute(select(func.count()).select_from(unlogged.subquery())).scalar_one())


def _against(
    conn: Connection, checkpoint: Checkpoint, size: int, checkpoint_root: bytes | None
) -> str | None:
    if checkpoint.size > size:
        return (
            f"the checkpoint covers {checkpoint.size} revisions but the log holds only {size}: "
            "the history was truncated"
        )
    if checkpoint_root != checkpoint.root:
        return (
            f"the first {checkpoint.size} revisions, re-hashed from their content, do not give "
            "the checkpoint's root: a revision was deleted, rewritten or reordered"
        )
    if checkpoint.size == 0:
        return None
    proof = service.consistency_proof(conn, checkpoint.size, size).proof
    if not verify_consistency(
        checkpoint.size,
        size,
        [bytes.fromhex(node) for node in proof],
        checkpoint.root,
        service.root_hash(conn, size),
    ):
        return "the current tree is not consistent with the checkpoint"
    return None


def history_report(
    conn: Connection, entity_tables: Mapping[str, Table], settings: Settings
) -> HistoryReport:
    """The whole verifier, as ``GET /history/verify`` answers: every hash chain, the log
    against the revisions, and the current checkpoint (none without a signing key)."""
    chains = verify_history(conn, entity_tables)
    log = verify_log(conn)
    try:
        checkpoint = current_checkpoint(conn, settings)
    except errors.Unavailable:
        checkpoint = None
    return HistoryReport(
        **(chains.model_dump() | {"ok": chains.ok and log.ok}), log=log, checkpoint=checkpoint
    )
