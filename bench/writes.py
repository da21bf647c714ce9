"""Writes under concurrency: POST a claim, PATCH distinct claims with If-Match, and a 90/10
read/write mix, at c=32 on both backends, against a tutorial-style app (bench/tutorial.py) in
the same run; on PostgreSQL also POST with ``uvicorn --workers 2``.

``make bench`` runs it as a section of bench/RESULTS.md; ``python -m bench.writes`` runs it
alone and replaces that section. It reports, it never asserts: the targets are issue 11's.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bench import data
from bench.load import Result, Server, have_wrk, run_script, serve
from bench.sections import write_section

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "writes.lua"
SECTION = "## Writes"
CLAIMS = 10_000  # in the database before the writes (10% of the read bench's, same generator)
DURATION = 8  # seconds per measured run (wrk takes whole seconds)
WARMUP = 1  # seconds of the same load before each measured run, not counted
ROUNDS = 3
THREADS = 2
TIMEOUT_S = 2.0  # wrk --timeout: an answer later than this is a client timeout
POST_EVERY = 10  # the mix: every 10th request a POST, the rest GET by id
P99_TARGET_MS = 100.0
TUTORIAL_TARGET = 1.5  # the app's POST req/s over the tutorial app's, at least
WORKERS_TARGET = 1.3  # POST with two workers over one, on PostgreSQL, at least


@dataclass(frozen=True)
class Load:
    key: str
    label: str
    server: str  # "tutorial", "app" or "app2" (the app with two workers)
    mode: str  # writes.lua's mode


TUTORIAL = Load("tutorial", "tutorial app: POST a claim", "tutorial", "post")
POST = Load("post", "POST /claims (a new claim each)", "app", "post")
PATCH = Load("patch", "PATCH /claims/{id}, If-Match, distinct claims", "app", "patch")
MIX = Load("mix", f"mix: GET /claims/{{id}}, every {POST_EVERY}th a POST", "app", "mix")
POST_W2 = Load("post_w2", "POST /claims, `--workers 2`", "app2", "post")
EXPECTED = {"post": 201, "patch": 200, "mix": 200}


@dataclass
class Runs:
    load: Load
    results: list[Result] = field(default_factory=list)
    check: str = ""

    def median(self, attribute: str) -> float:
        return float(statistics.median(getattr(result, attribute) for result in self.results))

    def per_round(self, attribute: str, spec: str = ",.0f") -> str:
        return " / ".join(format(getattr(result, attribute), spec) for result in self.results)

    def statuses(self) -> dict[int, int]:
        total: dict[int, int] = {}
        for result in self.results:
            for status, count in result.statuses:
                total[status] = total.get(status, 0) + count
        return total


@dataclass
class BackendWrites:
    name: str
    built: data.Built
    runs: dict[str, Runs]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Settings:
    rounds: int = ROUNDS
    duration: int = DURATION
    warmup: int = WARMUP
    connections: int = 32
    claims: int = CLAIMS


# --- the databases --------------------------------------------------------------------------


@contextmanager
def databases(backend: str, admin_url: str, spec: data.Spec) -> Iterator[tuple[data.Built, str]]:
    """A fresh app database with ``spec``'s data, and an empty one for the tutorial app."""
    if backend == "sqlite":
        paths = [data.WORK / "writes.db", data.WORK / "writes-tutorial.db"]
        data.WORK.mkdir(parents=True, exist_ok=True)

        def remove() -> None:
            for path in paths:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

        remove()
        try:
            yield data.build(f"sqlite:///{paths[0]}", spec), f"sqlite:///{paths[1]}"
        finally:
            remove()
        return
    urls: list[str] = []
    try:
        urls.append(data.create_pg_database(admin_url))
        urls.append(data.create_pg_database(admin_url))
        yield data.build(urls[0], spec), urls[1]
    finally:
        for url in urls:
            data.drop_pg_database(admin_url, url)


def patch_targets(url: str, into: Path) -> int:
    """Every live claim as "id version", the least recently changed first: the PATCH run
    walks them, sending each its current version, so no request should meet a 412."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, version FROM claim WHERE deleted_at IS NULL ORDER BY updated_at, id"
                )
            ).all()
    finally:
        engine.dispose()
    into.write_text("".join(f"{row.id} {row.version}\n" for row in rows))
    return len(rows)


# --- the load -------------------------------------------------------------------------------


def settle(server: Server, *, limit_s: float = 30.0) -> None:
    """Wait until the server has finished what wrk left in flight when it stopped (its CPU time
    stops growing): the next run starts on an idle server, and the PATCH targets are read
    after the last PATCH committed (else a stale version, a 412)."""
    deadline = time.monotonic() + limit_s
    last = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = server.cpu_seconds()
        if now - last <= 0.01:  # at most one clock tick in 250 ms
            return
        last = now


class Bench:
    """One backend: its servers (started per block of runs), its runs, their results."""

    def __init__(self, name: str, built: data.Built, tutorial_url: str, settings: Settings):
        self.name = name
        self.built = built
        self.tutorial_url = tutorial_url
        self.settings = settings
        self.key = data.api_key(built.url, "bench writer", "checker")
        self.spec = data.Spec(claims=settings.claims)
        self.targets = data.WORK / f"writes-targets-{name.lower()}.txt"
        self.run_no = 0

    @contextmanager
    def server(self, which: str, round_no: int) -> Iterator[Server]:
        log = data.WORK / f"server-writes-{self.name.lower()}-{which}-r{round_no}.log"
        if which == "tutorial":
            env = {"TUTORIAL_DATABASE_URL": self.tutorial_url}
            with serve("bench.tutorial:app", factory=False, env=env, log=log) as server:
                yield server
            return
        workers = 2 if which == "app2" else 1
        env = {"CLAIMS_DATABASE_URL": self.built.url}
        with serve("app.main:create_app", factory=True, env=env, log=log, workers=workers) as bare:
            yield replace(bare, headers=(("Authorization", f"Bearer {self.key}"),))

    def script_args(self, load: Load) -> list[str]:
        self.run_no += 1
        args = [load.mode, str(THREADS), str(self.run_no)]
        if load.mode == "patch":
            patch_targets(self.built.url, self.targets)
            return [*args, str(self.targets)]
        args.append(str(self.spec.speakers))
        if load.mode == "mix":
            args += [str(self.spec.claims), str(data.DELETED_EVERY), str(POST_EVERY)]
        return args

    def run(self, server: Server, load: Load, duration: int) -> Result:
        result = run_script(
            server,
            SCRIPT,
            self.script_args(load),
            duration=duration,
            connections=self.settings.connections,
            threads=THREADS,
            timeout=TIMEOUT_S,
        )
        settle(server)
        return result

    def check(self, server: Server, load: Load) -> str:
        """One request before the load: it answers what it should."""
        headers = dict(server.headers)
        body = {"statement": "Bench check: a claim before the load.", "topics": ["economy"]}
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
            if load.mode == "patch":
                patch_targets(self.built.url, self.targets)
                claim_id, version = self.targets.read_text().split("\n", 1)[0].split()
                response = client.patch(
                    f"/api/v1/claims/{claim_id}",
                    json={"context": "bench check"},
                    headers={"If-Match": f'"v{version}"'},
                )
            elif load.mode == "mix":
                response = client.get("/api/v1/claims/1")
            else:
                response = client.post("/api/v1/claims", json=body)
        if response.status_code != EXPECTED[load.mode]:
            raise RuntimeError(
                f"{load.key} on {self.name} answered {response.status_code}: {response.text[:300]}"
            )
        version = response.json()["version"]
        return f"{response.status_code}, version {version}, {len(response.content):,} bytes"

    def measure(self, loads: list[Load]) -> dict[str, Runs]:
        runs = {load.key: Runs(load) for load in loads}
        for round_no in range(1, self.settings.rounds + 1):
            # Every other round backwards: no load keeps its place, the tutorial app's POST
            # stays next to the app's.
            order = loads if round_no % 2 else loads[::-1]
            blocks: list[list[Load]] = []
            for load in order:
                if blocks and blocks[-1][0].server == load.server:
                    blocks[-1].append(load)
                else:
                    blocks.append([load])
            for block in blocks:
                with self.server(block[0].server, round_no) as server:
                    for load in block:
                        item = runs[load.key]
                        if not item.check:
                            item.check = self.check(server, load)
                        if self.settings.warmup > 0:
                            self.run(server, load, self.settings.warmup)
                        result = self.run(server, load, self.settings.duration)
                        item.results.append(result)
                        print(
                            f"[writes {self.name}] round {round_no}/{self.settings.rounds} "
                            f"{load.key:<8}{result.rps:8,.0f} req/s  p50 {result.p50_ms:7.2f} "
                            f"ms  p99 {result.p99_ms:8.2f} ms  timeouts {result.timeouts}  "
                            f"non-2xx {result.non_2xx}  {result.cpu_us:6,.0f} µs CPU/req",
                            file=sys.stderr,
                            flush=True,
                        )
        return runs


def measure_backend(backend: str, admin_url: str, settings: Settings) -> BackendWrites:
    name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    spec = data.Spec(claims=settings.claims)
    print(f"[writes {name}] preparing {spec.claims:,} claims...", file=sys.stderr, flush=True)
    with databases(backend, admin_url, spec) as (built, tutorial_url):
        started = time.perf_counter()
        load_before = os.getloadavg()[0]
        bench = Bench(name, built, tutorial_url, settings)
        loads = [TUTORIAL, POST, PATCH, MIX]
        if backend == "postgresql":
            loads.append(POST_W2)
        try:
            runs = bench.measure(loads)
        finally:
            bench.targets.unlink(missing_ok=True)
        seconds = time.perf_counter() - started
    result = BackendWrites(name, built, runs)
    result.notes.append(
        f"Measured in {seconds / 60:.1f} min; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after."
    )
    failed = [key for key, item in runs.items() if any(s >= 500 for s in item.statuses())]
    if failed:
        result.notes.append(
            f"5xx answers in {', '.join(failed)}: the servers' logs are "
            f"bench/.work/server-writes-{name.lower()}-*.log (kept until the next run)."
        )
    return result


# --- the report -----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def answers(item: Runs) -> str:
    statuses = item.statuses()
    shown = ", ".join(f"{status}: {count:,}" for status, count in sorted(statuses.items()))
    if item.load.mode == "mix" and statuses:
        share = statuses.get(201, 0) / sum(statuses.values())
        shown += f" (POSTs {share:.1%})"
    return shown


def ratio_rounds(top: Runs, bottom: Runs) -> tuple[float, str]:
    ratio = top.median("rps") / bottom.median("rps")
    pairs = zip(top.results, bottom.results, strict=True)
    return ratio, " / ".join(f"{a.rps / b.rps:.2f}" for a, b in pairs)


def backend_section(report: BackendWrites) -> list[str]:
    counts = ", ".join(f"{name} {count:,}" for name, count in report.built.counts.items())
    lines = [f"### {report.name}", "", f"- Database {report.built.how}: {counts}."]
    if report.built.verify:
        lines.append(f"- {report.built.verify}.")
    lines += [f"- {note}" for note in report.notes]
    checks = "; ".join(f"{key}: {item.check}" for key, item in report.runs.items())
    lines += [f"- One request per load before it: {checks}.", ""]
    lines += [
        "| load | req/s | per round | p50 ms | p99 ms (per round) | timeouts (per round) | "
        "non-2xx (per round) | server CPU µs/req | answers by status, all rounds |",
        "|---|---:|---|---:|---|---|---|---:|---|",
    ]
    for item in report.runs.values():
        lines.append(
            f"| {item.load.label} | {item.median('rps'):,.0f} | {item.per_round('rps')} | "
            f"{item.median('p50_ms'):.1f} | {item.median('p99_ms'):,.1f} "
            f"({item.per_round('p99_ms')}) | {item.median('timeouts'):g} "
            f"({item.per_round('timeouts')}) | {item.median('non_2xx'):g} "
            f"({item.per_round('non_2xx')}) | {item.median('cpu_us'):,.0f} | {answers(item)} |"
        )
    post, tutorial = report.runs["post"], report.runs["tutorial"]
    ratio, rounds = ratio_rounds(post, tutorial)
    p99 = post.median("p99_ms")
    bad = sum(result.timeouts + result.errors for result in post.results)
    lines += [
        "",
        "| target (issue 11) | measured | per round | result |",
        "|---|---:|---|---|",
        f"| POST p99 ≤ {P99_TARGET_MS:.0f} ms | {p99:,.1f} ms | {post.per_round('p99_ms')} | "
        f"{verdict(p99 <= P99_TARGET_MS)} |",
        f"| POST: no timeouts, no errors | {sum(r.timeouts for r in post.results)} timeouts, "
        f"{sum(r.errors - r.timeouts for r in post.results)} other errors | | "
        f"{verdict(bad == 0)} |",
        f"| POST ≥ {TUTORIAL_TARGET}x the tutorial app's req/s | {ratio:.2f}x | {rounds} | "
        f"{verdict(ratio >= TUTORIAL_TARGET)} |",
    ]
    if "post_w2" in report.runs:
        ratio, rounds = ratio_rounds(report.runs["post_w2"], post)
        lines.append(
            f"| POST, `--workers 2` ≥ {WORKERS_TARGET}x one worker | {ratio:.2f}x | {rounds} | "
            f"{verdict(ratio >= WORKERS_TARGET)} |"
        )
    return [*lines, ""]


def method(settings: Settings) -> list[str]:
    return [
        f"`bench/writes.py` (`python -m bench.writes` runs this section alone). For each backend "
        f"a fresh database with {settings.claims:,} claims from bench/data.py's generator (its "
        "speakers and outlets, its histories); the app under uvicorn, one worker, a checker's "
        "API key on every request; the tutorial-style app (bench/tutorial.py: a plain `def` "
        "endpoint, a `yield` session dependency, a claim row and a revision row with its JSON "
        "snapshot and sha256 hash in one transaction; no key, no reference checks, no topic "
        "index) on its own empty database of the same backend (SQLite: WAL, "
        "`synchronous=FULL` as the app). Load: "
        f"`wrk -t{THREADS} -c{settings.connections} -d{settings.duration:g}s "
        f"--timeout {TIMEOUT_S:g}s` with bench/writes.lua. POST: a new claim each request "
        "(statement numbered by a counter, a speaker, two topics); the tutorial app gets the "
        "same body. PATCH: each request a different live claim with `If-Match` at its current "
        "version (read from the database just before the run, least recently changed first) "
        f"and a new `context`. Mix: GET by random live id, every {POST_EVERY}th request a POST "
        "(the share of POSTs among the answers is given: slower POSTs are fewer of those "
        f"finished). {settings.rounds} rounds; in each, every load gets "
        f"{settings.warmup:g} s of warm-up and then its measured run, the servers are started "
        "fresh for their block of runs (one at a time: PostgreSQL allows 100 connections), and "
        "every other round runs the loads in reverse order; the tutorial app's POST always "
        "sits next to the app's. Figures are medians over rounds with each round's; ratios "
        "are of medians, per round of that round's runs. A timeout is wrk's count of requests "
        f"unanswered after {TIMEOUT_S:g} s (they are left out of its latency percentiles); "
        "non-2xx are answers outside 2xx/3xx, by status in the last column. Server CPU "
        "counts the uvicorn processes (both workers), not PostgreSQL's.",
        "",
    ]


def run(
    backends: list[str], admin_url: str, settings: Settings | None = None, skipped: str = ""
) -> str:
    """The section: ``backends`` are the ones to measure, ``skipped`` says why one is not."""
    began = time.perf_counter()
    settings = settings or Settings()
    lines = [f"{SECTION} (c={settings.connections})", ""]
    started = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}"
    lines += [f"Run {started} (the section can be rerun alone, apart from the others).", ""]
    if not have_wrk():
        print("[writes] skipped: wrk not found", file=sys.stderr, flush=True)
        return "\n".join([*lines, "Skipped: wrk is not installed (the section needs it).", ""])
    lines += method(settings)
    for backend in backends:
        lines += backend_section(measure_backend(backend, admin_url, settings))
    if skipped:
        lines += [skipped, ""]
    minutes = (time.perf_counter() - began) / 60
    lines += [f"The writes section took {minutes:.1f} minutes.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from bench.run import PG_ADMIN_URL, RESULTS, pg_version

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--duration", type=int, default=DURATION, help="seconds per run")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="seconds before each run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--claims", type=int, default=CLAIMS)
    parser.add_argument(
        "--no-save", action="store_true", help="print the section, leave RESULTS.md alone"
    )
    args = parser.parse_args(argv)
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    skipped = ""
    if "postgresql" in backends and pg_version(PG_ADMIN_URL) is None:
        backends.remove("postgresql")
        skipped = f"PostgreSQL skipped: no server at {PG_ADMIN_URL}."
    settings = Settings(args.rounds, args.duration, args.warmup, args.connections, args.claims)
    section = run(backends, PG_ADMIN_URL, settings, skipped)
    if not args.no_save:
        write_section(RESULTS, SECTION, section, before=("## History cost",))
    print(section)


if __name__ == "__main__":
    main()
