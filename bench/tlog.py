"""What the transparency log costs, in process (no HTTP), on fresh SQLite and PostgreSQL databases.

(a) Proofs at 10,000 and 1,000,000 revisions: the revisions are bulk-inserted into a scratch
database (``insert_rows``: COPY / multi-row INSERTs, not the HTTP path; their hashes are random,
their content a stub: the tree only reads ``id`` and ``hash``), the appender builds the tree
(leaves/s), then inclusion proofs of random revisions and consistency proofs between random
sizes are timed (``app.tlog.service``, one connection) and their sizes reported.
(b) The cost the tree adds to a write: ``update_claim`` alone, against ``update_claim`` followed
by the appender's turn for that one revision (the worst case: one append transaction per write;
the server's appender runs once a second and takes many revisions per turn), interleaved in
blocks. ``python -m bench.tlog`` prints the section; bench/RESULTS.md keeps the last run.
"""

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime

from app.auth.actor import Actor, Role
from app.claims import service as claims_service
from app.claims.models import ClaimCreate, ClaimUpdate
from app.core.bulk import insert_rows
from app.core.db import Database
from app.history.service import revision_table
from app.tlog import service
from app.tracked.versions import NO_PRECONDITION
from bench import data

ACTOR = Actor(name="bench", role=Role.editor)
PROOFS = 1_000
WRITES = 400  # per arm
BLOCK = 20
INSERT_CHUNK = 50_000


def bulk_revisions(database: Database, count: int) -> float:
    """``count`` stub revisions with random hashes; returns the seconds it took."""
    started = time.perf_counter()
    at = datetime(2026, 11, 30, tzinfo=UTC)
    done = 0
    while done < count:
        rows = [
            {
                "id": done + i + 1,
                "entity_type": "claim",
                "entity_id": done + i + 1,
                "version": 1,
                "action": "created",
                "recorded_at": at,
                "actor_name": "bench",
                "actor_role": "editor",
                "changes": {},
                "snapshot": {},
                "schema_version": 1,
                "hash": os.urandom(32).hex(),
            }
            for i in range(min(INSERT_CHUNK, count - done))
        ]
        with database.engine.begin() as conn:
            insert_rows(conn, revision_table, rows)
        done += len(rows)
    if database.engine.dialect.name == "postgresql":
        with database.engine.begin() as conn:
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('revision', 'id'), "
                "(SELECT max(id) FROM revision))"
            )
            conn.exec_driver_sql("ANALYZE revision")
    return time.perf_counter() - started


def build_tree(database: Database, count: int) -> float:
    """Append all ``count`` revisions; the seconds spent in appending turns. On PostgreSQL the
    feed's watermark is the whole server's: another database's open transaction holds the
    revisions back, so a turn that found nothing waits a moment and is not counted."""
    spent = 0.0
    size = 0
    while size < count:
        started = time.perf_counter()
        with database.session(write=True) as session:
            appended = service.catch_up(session)
        if appended:
            spent += time.perf_counter() - started
            size += appended
        else:
            time.sleep(0.2)
    if database.engine.dialect.name == "postgresql":
        with database.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE tlog_leaf")
            conn.exec_driver_sql("ANALYZE tlog_node")
    return spent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_proofs(database: Database, size: int) -> dict[str, float]:
    rng = random.Random(7)
    inclusion_ms: list[float] = []
    consistency_ms: list[float] = []
    path_lengths: list[int] = []
    proof_lengths: list[int] = []
    with database.read_connection() as conn:
        ids = [
            row[0]
            for row in conn.execute(
                service.leaf_table.select()
                .with_only_columns(service.leaf_table.c.revision_id)
                .where(service.leaf_table.c.leaf_index.in_(rng.sample(range(size), PROOFS)))
            )
        ]
        for revision_id in ids:
            started = time.perf_counter()
            proof = service.inclusion_proof(conn, revision_id, None)
            inclusion_ms.append((time.perf_counter() - started) * 1000)
            path_lengths.append(len(proof.audit_path))
        for _ in range(PROOFS):
            first = rng.randrange(1, size)
            started = time.perf_counter()
            answer = service.consistency_proof(conn, first, None)
            consistency_ms.append((time.perf_counter() - started) * 1000)
            proof_lengths.append(len(answer.proof))
        started = time.perf_counter()
        service.root_hash(conn, size)
        root_ms = (time.perf_counter() - started) * 1000
    return {
        "inclusion_p50": statistics.median(inclusion_ms),
        "inclusion_p99": percentile(inclusion_ms, 0.99),
        "inclusion_len": statistics.mean(path_lengths),
        "inclusion_max": max(path_lengths),
        "consistency_p50": statistics.median(consistency_ms),
        "consistency_p99": percentile(consistency_ms, 0.99),
        "consistency_len": statistics.mean(proof_lengths),
        "consistency_max": max(proof_lengths),
        "root_ms": root_ms,
    }


def write_cost(database: Database) -> dict[str, float]:
    with database.session(write=True) as session:
        claim = claims_service.create_claim(
            session, ClaimCreate(statement="The bench claim.", language="en"), actor=ACTOR
        )
        service.catch_up(session)
    arms: dict[str, list[float]] = {"without": [], "with": []}
    appends = [0, 0]  # turns that found nothing (held back by the watermark), that appended
    for block in range(2 * WRITES // BLOCK):
        arm = "with" if block % 2 else "without"
        started = time.perf_counter()
        for n in range(BLOCK):
            with database.session(write=True) as session:
                claims_service.update_claim(
                    session,
                    claim.id,
                    ClaimUpdate(place=f"Place {block}-{n}"),
                    expect=NO_PRECONDITION,
                    actor=ACTOR,
                )
            if arm == "with":
                with database.session(write=True) as session:
                    appended = service.append_batch(session)
                appends[appended > 0] += 1
        arms[arm].append((time.perf_counter() - started) / BLOCK * 1e6)
    result = {arm: statistics.median(values) for arm, values in arms.items()}
    return result | {"empty_turns": appends[0], "turns": sum(appends)}


def measure(backend: str, admin_url: str, sizes: list[int]) -> list[str]:
    lines = []
    for size in sizes:
        with data.scratch_database(backend, admin_url, f"tlog-{size}") as database:
            inserted = bulk_revisions(database, size)
            built = build_tree(database, size)
            proofs = time_proofs(database, size)
        lines.append(
            f"| {backend} | {size:,} | {inserted:.1f} s | {built:.1f} s "
            f"({size / built:,.0f} leaves/s) | {proofs['inclusion_p50']:.2f} / "
            f"{proofs['inclusion_p99']:.2f} ms | {proofs['inclusion_len']:.1f} "
            f"(max {proofs['inclusion_max']}, {32 * proofs['inclusion_max']} B) | "
            f"{proofs['consistency_p50']:.2f} / {proofs['consistency_p99']:.2f} ms | "
            f"{proofs['consistency_len']:.1f} (max {proofs['consistency_max']}, "
            f"{32 * proofs['consistency_max']} B) | {proofs['root_ms']:.2f} ms |"
        )
        print(lines[-1], flush=True)
    return lines


def run(backends: list[str], admin_url: str, sizes: list[int]) -> str:
    rows = []
    writes = []
    for backend in backends:
        rows += measure(backend, admin_url, sizes)
        with data.scratch_database(backend, admin_url, "tlog-writes") as database:
            cost = write_cost(database)
        writes.append(
            f"| {backend} | {cost['without']:.0f} µs | {cost['with']:.0f} µs | "
            f"+{cost['with'] - cost['without']:.0f} µs | "
            f"{cost['empty_turns']:.0f} of {cost['turns']:.0f} |"
        )
        print(writes[-1], flush=True)
    return "\n".join(
        [
            "## Transparency log",
            "",
            "`python -m bench.tlog`: proofs from the stored subtree hashes (in process, one "
            "connection, 1,000 random proofs each; sizes in hashes of 32 bytes).",
            "",
            "| backend | revisions | bulk insert | tree build | inclusion p50 / p99 | "
            "inclusion path | consistency p50 / p99 | consistency proof | root |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "A write, `update_claim` in its own transaction, median of blocks of "
            f"{BLOCK}: alone, and followed by the appender's turn for that one revision (the "
            "worst case; the server's appender takes every new revision once a second).",
            "",
            "| backend | update alone | update + append | added | turns held back |",
            "|---|---|---|---|---|",
            *writes,
            "",
        ]
    )


def main() -> None:
    from bench.run import PG_ADMIN_URL, pg_version

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="10000,1000000")
    args = parser.parse_args()
    backends = [name for name in args.backends.split(",") if name]
    if "postgresql" in backends and pg_version(PG_ADMIN_URL) is None:
        backends.remove("postgresql")
    print(run(backends, PG_ADMIN_URL, [int(size) for size in args.sizes.split(",")]))


if __name__ == "__main__":
    main()
