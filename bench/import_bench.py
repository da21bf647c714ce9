"""Import LIAR train.tsv (10,269 rows) over HTTP (the CLI's path: client -> POST /imports,
uvicorn, one worker) and straight through the import service in-process (the ceiling), on fresh
SQLite and PostgreSQL databases, each measured in the same run; then, over HTTP, the same file
again into the same database (the unchanged re-run: compared in bulk, nothing written).
``make bench`` runs it at the end; ``python -m bench.import_bench [--rounds N] [--rows N]``
replaces this section of bench/RESULTS.md.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.auth.actor import CLI_ACTOR
from app.client import ClaimTrackerClient
from app.client.csv_mapping import Mapping, read_csv
from app.core.db import Database, make_engine
from app.imports import service
from app.main import tune_garbage_collector
from app.schema.migrate import upgrade
from app.vocabulary.enums import OnError
from bench.sections import write_section

ROOT = Path(__file__).resolve().parent.parent
# The shared data, as the tests find it (tests/shared_data.py): never in the repository.
SHARED = (ROOT / (os.environ.get("CLAIMS_SHARED_DIR") or "../shared")).resolve()
TRAIN = SHARED / "datasets" / "liar" / "train.tsv"
MAPPING = ROOT / "docs" / "examples" / "liar.mapping.toml"
BATCH = 1000
SECTION = "## Bulk import (LIAR train.tsv"
# Over HTTP (issue 11): the first import on each backend, and the unchanged re-run on both.
TARGET_ROWS_PER_SECOND = {"sqlite": 6000, "postgresql": 4000}
TARGET_RERUN_ROWS_PER_SECOND = 5000


def records(limit: int | None) -> list[dict[str, Any]]:
    rows = [r for _, r in read_csv(TRAIN, Mapping.load(MAPPING)) if isinstance(r, dict)]
    return rows[:limit] if limit else rows


def fresh(backend: str, tmp: Path, admin_url: str) -> str:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import tests.conftest as conftest

    if backend == "sqlite":
        url = f"sqlite:///{tmp / f'bench-{time.monotonic_ns()}.db'}"
    else:
        os.environ["CLAIMS_TEST_PG_URL"] = admin_url
        conftest.PG_URL = admin_url
        url = conftest.create_pg_database("claims_bench")
    upgrade(url)
    return url


def drop(backend: str, url: str) -> None:
    if backend == "postgresql":
        from tests.conftest import drop_pg_database

        drop_pg_database(url)


def in_process(url: str, rows: list[dict[str, Any]]) -> float:
    engine = make_engine(url)
    database = Database(engine)
    tune_garbage_collector()  # as the server does at start-up, so the ceiling is comparable
    start = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        service.run_import(
            database, rows[i : i + BATCH], actor=CLI_ACTOR, dry_run=False, on_error=OnError.stop
        )
    elapsed = time.perf_counter() - start
    engine.dispose()
    return len(rows) / elapsed


# The new claims the matcher has not taken yet (app/matching/suggestions.py).
_UNMATCHED = sa.text(
    "SELECT count(*) FROM revision WHERE entity_type = 'claim' AND action = 'created' "
    "AND id > (SELECT revision_id FROM match_cursor)"
)


def matcher_backlog(url: str, *, wait: bool) -> tuple[int, float]:
    """The new claims the server's matcher has still to match, and (``wait``) the seconds it
    takes to match them all while the server is idle."""
    engine = make_engine(url)
    try:
        start = time.perf_counter()
        with engine.connect() as conn:
            backlog = int(conn.execute(_UNMATCHED).scalar_one())
        left = backlog
        while wait and left:
            time.sleep(0.2)
            with engine.connect() as conn:
                left = int(conn.execute(_UNMATCHED).scalar_one())
        return backlog, time.perf_counter() - start
    finally:
        engine.dispose()


def over_http(
    url: str, rows: list[dict[str, Any]], *, wait_for_matcher: bool = False
) -> tuple[float, float, tuple[int, float]]:
    """Rows/s of the first import into an empty database, and of the same rows sent again
    (every record unchanged; the answers are checked, so a re-run that wrote is no result);
    then the matcher's backlog, and with ``wait_for_matcher`` how long it took to clear."""
    from tests.conftest import new_key_in
    from tests.servers import running_server

    key = new_key_in(url, "editor")
    rates: list[float] = []
    with (
        running_server(url, api_key=key) as server,
        ClaimTrackerClient(server.base_url, key) as api,
    ):
        for expected in ("created", "unchanged"):
            start = time.perf_counter()
            for i in range(0, len(rows), BATCH):
                summary = api.import_records(rows[i : i + BATCH])
                if summary.get(expected) != len(rows[i : i + BATCH]):
                    raise RuntimeError(f"expected every record {expected}: {summary}")
            rates.append(len(rows) / (time.perf_counter() - start))
        backlog = matcher_backlog(url, wait=wait_for_matcher)
    return rates[0], rates[1], backlog


def measure(
    backend: str, admin_url: str, rows: list[dict[str, Any]], rounds: int
) -> tuple[list[float], list[float], list[float], tuple[int, float]]:
    """Rounds of in-process, then HTTP (first import and re-run), each into a fresh database;
    the first round's HTTP server is then left idle until its matcher has matched every new
    claim."""
    ceilings: list[float] = []
    https: list[float] = []
    reruns: list[float] = []
    matched: tuple[int, float] = (0, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            url = fresh(backend, Path(tmp), admin_url)
            try:
                ceilings.append(in_process(url, rows))
            finally:
                drop(backend, url)
            url = fresh(backend, Path(tmp), admin_url)
            try:
                first, again, backlog = over_http(url, rows, wait_for_matcher=not https)
                matched = backlog if not https else matched
            finally:
                drop(backend, url)
            https.append(first)
            reruns.append(again)
            print(
                f"[import] {backend}: in-process {ceilings[-1]:,.0f} rows/s, "
                f"HTTP {https[-1]:,.0f} rows/s, HTTP re-run {reruns[-1]:,.0f} rows/s",
                file=sys.stderr,
                flush=True,
            )
    return ceilings, https, reruns, matched


def run(backends: list[str], admin_url: str, *, rounds: int = 3, limit: int | None = None) -> str:
    if not TRAIN.is_file():
        # Skip this section only: the rest of a long `make bench` run is still worth keeping.
        missing = (
            f"{TRAIN} is missing: LIAR is not in the repository; put the shared data beside "
            "the checkout or set CLAIMS_SHARED_DIR."
        )
        print(f"[import] skipped: {missing}", file=sys.stderr, flush=True)
        return f"{SECTION}: skipped)\n\n{missing}\n"
    rows = records(limit)
    lines = [
        f"{SECTION}, {len(rows):,} rows)",
        "",
        "`bench/import_bench.py`: the rows read with `docs/examples/liar.mapping.toml`, "
        f"imported in batches of {BATCH:,} into a fresh database, straight through "
        "`app.imports.service.run_import` in-process (the ceiling) and over HTTP (client → "
        "`POST /api/v1/imports`, uvicorn, one worker, an editor's key), interleaved, "
        f"{rounds} round(s). Every row is a new rated claim with one evidence item: one creation "
        "revision per claim, plus one per new speaker (2,916 in train.tsv). The re-run sends "
        "the same file again over HTTP into the database the first import filled: every record "
        "unchanged, nothing written. Medians, with the range.",
        "",
        "| backend | in-process rows/s | HTTP rows/s | HTTP / in-process | HTTP target "
        "| HTTP re-run rows/s | re-run target |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    matchers: list[str] = []
    for backend in backends:
        ceilings, https, reruns, (backlog, seconds) = measure(backend, admin_url, rows, rounds)
        matchers.append(
            f"{'SQLite' if backend == 'sqlite' else 'PostgreSQL'}: {backlog:,} of the "
            f"{len(rows):,} new claims left to the matcher when the re-run ended, matched by the "
            f"idle server in {seconds:.1f} s ({backlog / seconds if seconds else 0:,.0f} claims/s)"
        )
        ceiling, http = statistics.median(ceilings), statistics.median(https)
        lines.append(
            f"| {'SQLite' if backend == 'sqlite' else 'PostgreSQL'} "
            f"| {_spread(ceilings)} | {_spread(https)} | {http / ceiling:.2f} "
            f"| {_verdict(https, TARGET_ROWS_PER_SECOND[backend])} "
            f"| {_spread(reruns)} | {_verdict(reruns, TARGET_RERUN_ROWS_PER_SECOND)} |"
        )
    lines.append("")
    lines.append(
        "A target counts as met only if every round's rate reaches it. The re-run's rate "
        "includes the client's own work (encoding each batch, the round trip)."
    )
    lines.append("")
    lines.append(
        "The matcher (docs/similar.md) stores the new claims' similar claims as suggestions "
        "after each batch's commit, in the server's background: a turn every 10 seconds while "
        "the import keeps the server busy, turn after turn once it is idle. First round: "
        + "; ".join(matchers)
        + "."
    )
    return "\n".join(lines) + "\n"


def _spread(rates: list[float]) -> str:
    return f"{statistics.median(rates):,.0f} ({min(rates):,.0f} to {max(rates):,.0f})"


def _verdict(rates: list[float], target: int) -> str:
    return f">= {target:,}: {'PASS' if min(rates) >= target else 'MISS'}"


def main() -> None:
    from bench.run import PG_ADMIN_URL, RESULTS, pg_version

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=None, help="only the first N rows")
    args = parser.parse_args()
    backends = [name for name in args.backends.split(",") if name]
    if "postgresql" in backends and pg_version(PG_ADMIN_URL) is None:
        backends.remove("postgresql")
    section = run(backends, PG_ADMIN_URL, rounds=args.rounds, limit=args.rows)
    write_section(RESULTS, SECTION, section)
    print(section)


if __name__ == "__main__":
    main()
