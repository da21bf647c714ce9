"""The public fact-check pages (issue 13) against the list budget: the index page of 20
(`GET /`) and one fact-check page (`GET /claims/{id}`), as HTML, next to the API's list page of
50, each as a ratio to the bare-FastAPI ceiling of the same run (bench/ceiling.py).

``make bench`` runs it as a section of bench/RESULTS.md; ``python -m bench.pages`` runs it
alone and replaces that section. The budget is the API list's floor in bench/run.py
(LIST_FLOOR, a ratio of 0.20 to the ceiling); it reports, it never asserts.
"""

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from app.core.db import make_engine
from app.tlog.signing import create_key_file
from bench import data
from bench.load import Result, Server, Target, have_wrk, run_load, serve
from bench.sections import write_section

SECTION = "## Public pages"
CLAIMS = 100_000
LIST_FLOOR = 0.20  # bench/run.py's budget for a list page


@dataclass(frozen=True)
class Settings:
    rounds: int = 3
    duration: float = 8.0
    warmup: float = 2.0
    connections: int = 32
    claims: int = CLAIMS


@dataclass
class Row:
    key: str
    label: str
    target: Target
    floor: float | None
    uncached: bool = False  # on the server with CLAIMS_PAGES_CACHE_MB=0
    runs: list[Result] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    check: str = ""

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)


def _newest_published(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT id FROM claim WHERE review = 'settled' AND status <> "
                        "'unverified' AND deleted_at IS NULL ORDER BY reviewed_at DESC, id DESC "
                        "LIMIT 1"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _build_log(url: str) -> Path:
    """Append every revision to the transparency log before the servers start (their appenders
    would otherwise build it during the load), and a checkpoint key for the pages to show."""
    engine = make_engine(url)
    try:
        data.settle(engine)  # a database built before the log existed gets it now
    finally:
        engine.dispose()
    key_file = data.WORK / "pages-checkpoint.key"
    if not key_file.exists():
        create_key_file(key_file, "bench/history")
    return key_file


def _check(server: Server, row: Row) -> str:
    response = httpx.get(server.base + row.target.path, headers=dict(server.headers), timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"{row.target.path} answered {response.status_code}")
    if row.key == "index":
        cards = response.text.count('<article class="card">')
        return f"{cards} fact-checks, {len(response.content):,} bytes"
    return f"{len(response.content):,} bytes"


def measure_backend(backend: str, url: str, settings: Settings) -> tuple[list[Row], list[Result]]:
    claim_id = _newest_published(url)
    rows = [
        Row("index", "GET / (index page of 20, HTML)", Target("/"), LIST_FLOOR),
        Row(
            "page",
            "GET /claims/{id} (one fact-check, HTML)",
            Target(f"/claims/{claim_id}"),
            LIST_FLOOR,
        ),
        Row("index_off", "GET / with the page cache off", Target("/"), LIST_FLOOR, True),
        Row(
            "page_off",
            "GET /claims/{id} with the page cache off",
            Target(f"/claims/{claim_id}"),
            LIST_FLOOR,
            True,
        ),
        Row(
            "api_list",
            "for comparison: GET /api/v1/claims?status=unverified&limit=50",
            Target("/api/v1/claims?status=unverified&limit=50"),
            LIST_FLOOR,
        ),
    ]
    key = data.api_key(url, "bench pages reader", "reader")
    env = {
        "CLAIMS_DATABASE_URL": url,
        "CLAIMS_PUBLIC_PAGES": "true",
        "CLAIMS_CHECKPOINT_KEY_FILE": str(_build_log(url)),
        "CLAIMS_CHECKPOINT_ORIGIN": "bench/history",
    }
    ceilings: list[Result] = []
    ceiling_target = Target("/items/", random_ids=1000)
    ceiling_log = data.WORK / "server-pages-ceiling.log"
    with (
        serve("bench.ceiling:app", factory=False, env={}, log=ceiling_log) as ceiling,
        serve(
            "app.main:create_app",
            factory=True,
            env=env,
            log=data.WORK / f"server-pages-{backend}.log",
        ) as bare,
        serve(
            "app.main:create_app",
            factory=True,
            env={**env, "CLAIMS_PAGES_CACHE_MB": "0"},
            log=data.WORK / f"server-pages-{backend}-uncached.log",
        ) as plain,
    ):
        headers = (("Authorization", f"Bearer {key}"),)
        servers = {
            False: Server(bare.base, bare.pid, headers),
            True: Server(plain.base, plain.pid, headers),
        }
        for row in rows:
            row.check = _check(servers[row.uncached], row)
        load = {"duration": settings.warmup, "connections": settings.connections}
        run_load(ceiling, ceiling_target, **load)
        for row in rows:
            run_load(servers[row.uncached], row.target, **load)
        load["duration"] = settings.duration
        for round_no in range(1, settings.rounds + 1):
            shift = (round_no - 1) % len(rows)
            for row in rows[shift:] + rows[:shift]:
                top = run_load(ceiling, ceiling_target, **load)
                result = run_load(servers[row.uncached], row.target, **load)
                ceilings.append(top)
                row.runs.append(result)
                row.ratios.append(result.rps / top.rps)
                print(
                    f"[pages {backend}] round {round_no}/{settings.rounds} {row.key:<8}"
                    f"{result.rps:8,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                    f"p99 {result.p99_ms:7.2f} ms  {result.cpu_us:5.0f} µs CPU/req  "
                    f"(ceiling {top.rps:,.0f})",
                    file=sys.stderr,
                    flush=True,
                )
    return rows, ceilings


def table(name: str, rows: list[Row], ceilings: list[Result]) -> list[str]:
    ceiling_rps = statistics.median(run.rps for run in ceilings)
    ceiling_cpu = statistics.median(run.cpu_us for run in ceilings)
    lines = [
        f"### {name}",
        "",
        "- One request per row before the load: "
        + "; ".join(f"{row.key}: {row.check}" for row in rows)
        + ".",
        "",
        "| scenario | req/s | p50 ms | p99 ms | ratio to ceiling | per round | "
        "server CPU µs/req | target | result |",
        "|---|---:|---:|---:|---:|---|---:|---|---|",
        f"| ceiling (bare FastAPI, {len(ceilings)} runs) | {ceiling_rps:,.0f} | "
        f"{statistics.median(run.p50_ms for run in ceilings):.2f} | "
        f"{statistics.median(run.p99_ms for run in ceilings):.2f} | 1.00 | | "
        f"{ceiling_cpu:,.0f} | | |",
    ]
    for row in rows:
        ratio = row.median("rps") / ceiling_rps
        target = f"≥ {row.floor:.2f}" if row.floor is not None else ""
        result = ("PASS" if ratio >= row.floor else "MISS") if row.floor is not None else ""
        lines.append(
            f"| {row.label} | {row.median('rps'):,.0f} | {row.median('p50_ms'):.2f} | "
            f"{row.median('p99_ms'):.2f} | {ratio:.3f} | "
            f"{' / '.join(f'{value:.3f}' for value in row.ratios)} | "
            f"{row.median('cpu_us'):,.0f} | {target} | {result} |"
        )
    errors = sum(run.errors for row in rows for run in row.runs)
    lines += ["", f"Non-2xx answers and socket errors over all measured runs: {errors}.", ""]
    return lines


def run(backends: list[str], admin_url: str, settings: Settings | None = None) -> str:
    settings = settings or Settings()
    began = time.perf_counter()
    started = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}"
    lines = [
        SECTION,
        "",
        f"Run {started} (`python -m bench.pages` reruns this section alone). The app with "
        "`CLAIMS_PUBLIC_PAGES=true` on the read bench's generated data "
        f"({settings.claims:,} claims, about 30% of them published), one uvicorn worker, "
        f"`wrk -c{settings.connections}` for {settings.duration:g} s per run after a "
        f"{settings.warmup:g} s warm-up, {settings.rounds} rounds of ceiling, scenario, "
        "ceiling, scenario... with the order rotating. The transparency log is built and a "
        "checkpoint key set before the servers start, so the pages show the checkpoint. The "
        "pages are requested without If-None-Match (no 304) and nothing is written meanwhile: "
        "the first rows are served from the per-process page cache (one marker read per "
        "request), the `cache off` rows by a second server with `CLAIMS_PAGES_CACHE_MB=0`, "
        "which reads and renders every request. Target: the API list page's budget, a ratio "
        f"of {LIST_FLOOR:.2f} to the ceiling.",
        "",
    ]
    if not have_wrk():
        return "\n".join([*lines, "Skipped: wrk is not installed.", ""])
    spec = data.Spec(claims=settings.claims)
    for backend in backends:
        if backend == "sqlite":
            built = data.sqlite_database(spec)
            rows, ceilings = measure_backend(backend, built.url, settings)
            lines += table("SQLite", rows, ceilings)
            continue
        url = data.create_pg_database(admin_url)
        try:
            data.build(url, spec)
            rows, ceilings = measure_backend(backend, url, settings)
            lines += table("PostgreSQL", rows, ceilings)
        finally:
            data.drop_pg_database(admin_url, url)
    lines += [f"The pages section took {(time.perf_counter() - began) / 60:.1f} minutes.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from bench.run import PG_ADMIN_URL, RESULTS, pg_version

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--claims", type=int, default=CLAIMS)
    parser.add_argument("--no-save", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args(argv)
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    if "postgresql" in backends and pg_version(PG_ADMIN_URL) is None:
        backends.remove("postgresql")
    settings = Settings(args.rounds, args.duration, args.warmup, args.connections, args.claims)
    section = run(backends, PG_ADMIN_URL, settings)
    if not args.no_save:
        write_section(RESULTS, SECTION, section)
    print(section)


if __name__ == "__main__":
    main()
