"""The verifier: recompute every hash chain and report the first broken link.

For each entity it checks that versions run 1..n, that each revision's ``prev_hash`` is the hash
before it, that each hash recomputes from the stored content, that replaying ``changes`` on the
previous snapshot reproduces the stored snapshot, and that the entity row's version and head
hash match its last revision.
"""

from collections.abc import Mapping
from time import perf_counter
from typing import Any

from sqlalchemy import Connection, Result, Table, select

from app.core.logs import get_logger
from app.history.hashing import revision_hash
from app.history.models import Revision, VerifyProblem, VerifyReport
from app.history.snapshots import apply_changes

revision_table = Revision.__table__  # type: ignore[attr-defined]


def _heads(
    conn: Connection, entity_tables: Mapping[str, Table]
) -> dict[tuple[str, int], tuple[int, str | None]]:
    heads: dict[tuple[str, int], tuple[int, str | None]] = {}
    for entity_type, table in entity_tables.items():
        for row in conn.execute(select(table.c.id, table.c.version, table.c.head_hash)):
            heads[(entity_type, row.id)] = (row.version, row.head_hash)
    return heads


def _revisions(conn: Connection) -> Result[Any]:
    """All revisions, streamed in batches; close the result (``with``) to free the cursor."""
    statement = select(revision_table).order_by(
        revision_table.c.entity_type, revision_table.c.entity_id, revision_table.c.version
    )
    # On the statement, not the connection: Connection.execution_options changes it in place.
    return conn.execute(statement.execution_options(yield_per=1000))


def _check(
    rev: Any, expected_version: int, prev_hash: str | None, prev_snapshot: dict[str, Any]
) -> str | None:
    if rev.version != expected_version:
        return f"version {rev.version} found where version {expected_version} was expected"
    if rev.prev_hash != prev_hash:
        return "prev_hash does not match the hash of the revision before it"
    if content_hash(rev) != rev.hash:
        return "the stored hash does not match the revision's content (altered after writing)"
    if not _same_snapshot(apply_changes(prev_snapshot, rev.changes), rev.snapshot):
        return "replaying the changes on the previous snapshot does not give this snapshot"
    return None


def content_hash(rev: Any) -> str:
    """The hash a revision row's content gives (hex), whatever its ``hash`` column says."""
    return revision_hash(
        entity_type=rev.entity_type,
        entity_id=rev.entity_id,
        version=rev.version,
        action=rev.action,
        reverted_to=rev.reverted_to,
        recorded_at=rev.recorded_at,
        actor_key_id=rev.actor_key_id,
        actor_name=rev.actor_name,
        actor_role=rev.actor_role,
        reason=rev.reason,
        request_id=rev.request_id,
        schema_version=rev.schema_version,
        prev_hash=rev.prev_hash,
        snapshot=rev.snapshot,
        changes=rev.changes,
    )


def _same_snapshot(left: dict[str, Any], right: dict[str, Any]) -> bool:
    """Equal field by field, a missing field counting as null (creation omits null fields)."""
    return all(left.get(key) == right.get(key) for key in left.keys() | right.keys())


log = get_logger("app.history")


def verify_history(conn: Connection, entity_tables: Mapping[str, Table]) -> VerifyReport:
    """Run on a connection that sees one snapshot (Database.read_connection(snapshot=True)):
    entity rows and revisions are read by separate statements. ``entity_tables`` maps each
    entity type to the table of its rows (``app.tables.TRACKED_TABLES``): the ledger does not
    know the domains, its callers do. Every run is logged (``history_verified``)."""
    started = perf_counter()
    report = _verify(conn, entity_tables)
    broken = report.first_broken
    (log.info if report.ok else log.error)(
        "history_verified",
        ok=report.ok,
        entities=report.entities_checked,
        revisions=report.revisions_checked,
        seconds=round(perf_counter() - started, 3),
        **({} if broken is None else {"first_broken": broken.model_dump(mode="json")}),
    )
    return report


def _verify(conn: Connection, entity_tables: Mapping[str, Table]) -> VerifyReport:
    heads = _heads(conn, entity_tables)
    entities = 0
    revisions = 0
    current: tuple[str, int] | None = None
    expected_version, prev_hash = 1, None
    prev_snapshot: dict[str, Any] = {}

    def broken(
        key: tuple[str, int], version: int | None, rev_id: int | None, problem: str
    ) -> VerifyReport:
        return VerifyReport(
            ok=False,
            entities_checked=entities,
            revisions_checked=revisions,
            first_broken=VerifyProblem(
                entity_type=key[0],
                entity_id=key[1],
                version=version,
                revision_id=rev_id,
                problem=problem,
            ),
        )

    def head_problem(key: tuple[str, int], last_version: int, last_hash: str | None) -> str | None:
        head = heads.pop(key, None)
        if head is None:
            return "history exists for an entity that is not in its table"
        if head != (last_version, last_hash):
            return (
                f"the entity row says version {head[0]} with head {head[1]}, "
                f"its last revision is version {last_version} with hash {last_hash}"
            )
        return None

    with _revisions(conn) as result:
        for rev in result:
            key = (str(rev.entity_type), rev.entity_id)
            if key != current:
                if current is not None:
                    problem = head_problem(current, expected_version - 1, prev_hash)
                    if problem:
                        return broken(current, expected_version - 1, None, problem)
                current = key
                entities += 1
                expected_version, prev_hash, prev_snapshot = 1, None, {}
            problem = _check(rev, expected_version, prev_hash, prev_snapshot)
            if problem:
                return broken(key, rev.version, rev.id, problem)
            revisions += 1
            expected_version, prev_hash, prev_snapshot = rev.version + 1, rev.hash, rev.snapshot
    if current is not None:
        problem = head_problem(current, expected_version - 1, prev_hash)
        if problem:
            return broken(current, expected_version - 1, None, problem)
    if heads:
        return broken(min(heads), None, None, "the entity has no history at all")
    return VerifyReport(
        ok=True, entities_checked=entities, revisions_checked=revisions, first_broken=None
    )
