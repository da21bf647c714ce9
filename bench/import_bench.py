"""Import LIAR train.tsv (10,269 rows) over HTTP (the CLI's path: client -> POST /imports) and
straight through the import service in-process (the ceiling), interleaved, on SQLite and
PostgreSQL. Prints rows/s and the ratio; `python -m bench.import_bench [--pg URL]`.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from app.auth.actor import CLI_ACTOR
from app.client import ClaimTrackerClient
from app.db import Database, make_engine
from app.imports import service
from app.imports.csv_mapping import Mapping, read_csv
from app.imports.models import OnError
from app.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT.parent / "shared" / "datasets" / "liar" / "train.tsv"
MAPPING = ROOT / "docs" / "examples" / "liar.mapping.toml"
BATCH = 1000


def records(limit: int | None) -> list[dict]:
    rows = [r for _, r in read_csv(TRAIN, Mapping.load(MAPPING)) if isinstance(r, dict)]
    return rows[:limit] if limit else rows


def fresh(backend: str, tmp: Path, pg_url: str) -> str:
    sys.path.insert(0, str(ROOT))
    from tests.conftest import create_pg_database

    if backend == "sqlite":
        url = f"sqlite:///{tmp / f'bench-{time.monotonic_ns()}.db'}"
    else:
        import os

        os.environ["CLAIMS_TEST_PG_URL"] = pg_url
        import tests.conftest as conftest

        conftest.PG_URL = pg_url
        url = create_pg_database("claims_bench")
    upgrade(url)
    return url


def in_process(url: str, rows: list[dict]) -> float:
    engine = make_engine(url)
    database = Database(engine)
    start = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        service.run_import(
            database, rows[i : i + BATCH], actor=CLI_ACTOR, dry_run=False, on_error=OnError.stop
        )
    elapsed = time.perf_counter() - start
    engine.dispose()
    return len(rows) / elapsed


def over_http(url: str, rows: list[dict]) -> float:
    from tests.conftest import new_key_in
    from tests.servers import running_server

    key = new_key_in(url, "editor")
    with (
        running_server(url, api_key=key) as server,
        ClaimTrackerClient(server.base_url, key) as api,
    ):
        start = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            api.import_records(rows[i : i + BATCH])
        elapsed = time.perf_counter() - start
    return len(rows) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    rows = records(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("sqlite", *(["postgresql"] if args.pg else [])):
            for _ in range(args.rounds):
                ceiling = in_process(fresh(backend, Path(tmp), args.pg), rows)
                http = over_http(fresh(backend, Path(tmp), args.pg), rows)
                print(
                    f"{backend}: {len(rows)} rows; in-process {ceiling:,.0f} rows/s; "
                    f"HTTP {http:,.0f} rows/s; ratio {http / ceiling:.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
