"""Change-stream latency under a write load: from a revision's `recorded_at` (taken inside its
write transaction, just before the commit) to the event's arrival at a stream client, on
SQLite and PostgreSQL.

    python -m bench.stream [--streams 20] [--writers 4] [--seconds 10] [--workers 2]

A server with `--workers` processes; `--streams` clients follow GET /changes/stream (spread over
the processes by the kernel); `--writers` threads POST claims as fast as the server takes them.
Every (stream, event) pair is one latency sample; the same machine's clock is read on both
ends. Also printed: the feed reads the streams cost (shared per wake-up vs. each stream's own).
"""

import argparse
import json
import os
import re
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

from app.schema.migrate import upgrade
from bench import data
from bench.load import serve

STREAM = "/api/v1/changes/stream"


def follow(base: str, key: str, stop: threading.Event, samples: list[float]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream("GET", base + STREAM, headers=headers, timeout=60) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrived = time.time()
                recorded = datetime.fromisoformat(json.loads(line[6:])["recorded_at"])
                samples.append(arrived - recorded.timestamp())
            if stop.is_set():
                return


def write(base: str, key: str, stop: threading.Event, counts: list[int]) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as api:
        n = 0
        while not stop.is_set():
            api.post("/api/v1/claims", json={"statement": f"latency {n}"}).raise_for_status()
            n += 1
        counts.append(n)


def feed_reads(base: str, key: str) -> dict[str, float]:
    text = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {key}"}).text
    found = re.findall(r'claims_change_stream_feed_reads_total\{kind="(\w+)"\} ([0-9.e+]+)', text)
    return {kind: float(value) for kind, value in found}


def run(url: str, args: argparse.Namespace, log: Path) -> str:
    upgrade(url)
    key = data.api_key(url, "bench", "admin")
    metrics_dir = tempfile.mkdtemp(prefix="bench-stream-metrics-", dir=log.parent)
    env = {
        "CLAIMS_DATABASE_URL": url,
        "CLAIMS_STREAM_MAX_PER_KEY": "1000",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,  # a scrape adds up every worker's reads
    }
    samples: list[float] = []
    counts: list[int] = []
    stop_streams, stop_writers = threading.Event(), threading.Event()
    with serve("app.main:create_app", factory=True, env=env, log=log, workers=args.workers) as s:
        streams = [
            threading.Thread(target=follow, args=(s.base, key, stop_streams, samples))
            for _ in range(args.streams)
        ]
        for thread in streams:
            thread.start()
        time.sleep(1.0)  # every stream open before the first write
        writers = [
            threading.Thread(target=write, args=(s.base, key, stop_writers, counts))
            for _ in range(args.writers)
        ]
        for thread in writers:
            thread.start()
        time.sleep(args.seconds)
        stop_writers.set()
        for thread in writers:
            thread.join()
        time.sleep(2.0)  # the last events arrive
        reads = feed_reads(s.base, key)
        stop_streams.set()
        httpx.post(  # one more write, so that every stream sees a line and stops
            s.base + "/api/v1/claims",
            json={"statement": "last"},
            headers={"Authorization": f"Bearer {key}"},
        )
        for thread in streams:
            thread.join(timeout=10)
    writes = sum(counts)
    expected = writes * args.streams
    ms = sorted(1000 * sample for sample in samples)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"{writes / args.seconds:.0f} writes/s, {len(ms)}/{expected} events, "
        f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms; "
        f"feed reads {reads} ({args.workers} processes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get(
            "CLAIMS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1/test"
        ),
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        sqlite_url = f"sqlite:///{tmp}/stream.db"
        print("sqlite:    ", run(sqlite_url, args, Path(tmp) / "sqlite.log"), flush=True)
        if args.pg_admin_url:
            pg_url = data.create_pg_database(args.pg_admin_url)
            try:
                print("postgresql:", run(pg_url, args, Path(tmp) / "pg.log"), flush=True)
            finally:
                data.drop_pg_database(args.pg_admin_url, pg_url)


if __name__ == "__main__":
    main()
