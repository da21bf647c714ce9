"""`make fuzz`: schemathesis's own CLI (`st run`, every phase and check) against real servers.

For each backend (SQLite, and PostgreSQL when CLAIMS_TEST_PG_URL is set): a fresh database
migrated to head, a uvicorn server on a loopback port, then one run as an admin and one as a
reader, seeded (7) so that a failure can be replayed. Settings: schemathesis.toml (the same as
the contract tests in `make test`). Exits non-zero when any run found a failure.

    python -m tests.contract.fuzz [--max-examples 100] [--backend sqlite]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from app.schema.migrate import upgrade
from tests.conftest import PG_URL, drop_pg_database, fresh_database_url, new_key_in
from tests.servers import ROOT, running_server

ROLES = ("admin", "reader")


def st_run(base_url: str, key: str, *, max_examples: int, report_dir: Path) -> int:
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        "--seed",
        "7",
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {key}",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
    ]
    # The hooks module (schemathesis.toml) is imported from the repository root.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


def fuzz_backend(backend: str, *, max_examples: int, report_root: Path) -> dict[str, int]:
    with tempfile.TemporaryDirectory(prefix=f"claims-fuzz-{backend}-") as tmp:
        url = fresh_database_url(backend, Path(tmp))
        try:
            upgrade(url)
            keys = {role: new_key_in(url, role, f"fuzz {role}") for role in ROLES}
            results = {}
            with running_server(url) as server:
                for role in ROLES:
                    print(f"\n=== schemathesis: {backend}, as {role} ===", flush=True)
                    results[role] = st_run(
                        server.base_url,
                        keys[role],
                        max_examples=max_examples,
                        report_dir=report_root / backend / role,
                    )
            return results
        finally:
            if backend == "postgresql":
                drop_pg_database(url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--report-dir", type=Path, default=ROOT / "schemathesis-report")
    args = parser.parse_args()
    backends = args.backend or ["sqlite", *(["postgresql"] if PG_URL else [])]
    shutil.rmtree(args.report_dir, ignore_errors=True)
    failed = []
    for backend in backends:
        results = fuzz_backend(backend, max_examples=args.max_examples, report_root=args.report_dir)
        failed += [f"{backend}/{role}" for role, code in results.items() if code != 0]
    print(f"\nschemathesis runs with failures: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
