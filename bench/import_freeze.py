"""Does a large import freeze the server? ``python -m bench.import_freeze [--rounds N]``.

Starts the app under uvicorn (one worker, loopback, a fresh SQLite file), then, for each
scenario, posts one import while a second client polls ``GET /healthz`` every ~10 ms, and prints
the /healthz latency seen during the import (median, p99, max) and the import's own duration.
Scenarios: one ClaimReview whose ``itemReviewed.appearance`` lists 8,000 URLs (~207 KB, the
issue's body), and a records batch of 5,000 new claims. /healthz does no I/O, so any latency
above the idle figure is the event loop being held by the import.

Everything is bounded: a fixed number of rounds, a poller that stops when the import answers
(or after ``POLL_LIMIT_S``), and a server stopped on exit.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
APPEARANCES = 8_000
RECORDS = 5_000
POLL_EVERY_S = 0.010
POLL_LIMIT_S = 120.0
IDLE_POLL_S = 1.0


def claimreview_body(urls: int = APPEARANCES) -> bytes:
    review = {
        "@context": "https://schema.org",
        "@type": "ClaimReview",
        "identifier": "freeze-1",
        "url": "https://example.org/review/1",
        "claimReviewed": "The bridge was built in one year.",
        "reviewRating": {"@type": "Rating", "alternateName": "False"},
        "itemReviewed": {
            "@type": "Claim",
            "appearance": [f"https://ex.org/a/{i:05d}" for i in range(urls)],
        },
    }
    return orjson.dumps(review)


def records_body(tag: str = "", count: int = RECORDS) -> bytes:
    return orjson.dumps(
        [
            {
                "external_id": f"freeze-{tag}{i}",
                "statement": f"Statement number {i} about the harbour budget.",
                "speaker": f"Speaker {i % 300}",
                "evidence": [{"title": "Budget table", "url": f"https://example.org/e/{i}"}],
            }
            for i in range(count)
        ]
    )


@dataclass
class Measured:
    name: str
    body_bytes: int
    status: int
    import_s: float
    polls: list[float]  # /healthz latencies in seconds

    def line(self) -> str:
        ms = sorted(p * 1000 for p in self.polls) or [float("nan")]
        p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        return (
            f"{self.name:<28} {self.body_bytes / 1024:7.0f} KB  HTTP {self.status}  "
            f"import {self.import_s:6.2f} s  /healthz n={len(self.polls):4d} "
            f"median {statistics.median(ms):7.1f} ms  p99 {p99:7.1f} ms  max {ms[-1]:7.1f} ms"
        )


def _poll(base_url: str, stop: threading.Event, into: list[float]) -> None:
    deadline = time.monotonic() + POLL_LIMIT_S
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        while not stop.is_set() and time.monotonic() < deadline:
            start = time.perf_counter()
            client.get("/healthz").raise_for_status()
            into.append(time.perf_counter() - start)
            stop.wait(POLL_EVERY_S)


def while_polling(base_url: str, work: Callable[[], Any]) -> tuple[Any, float, list[float]]:
    """Run ``work`` while /healthz is polled; its result, its duration and the latencies."""
    polls: list[float] = []
    stop = threading.Event()
    poller = threading.Thread(target=_poll, args=(base_url, stop, polls), daemon=True)
    poller.start()
    time.sleep(0.05)  # the poller is connected and polling before the import starts
    polls.clear()
    start = time.perf_counter()
    try:
        result = work()
    finally:
        elapsed = time.perf_counter() - start
        stop.set()
        poller.join(timeout=POLL_LIMIT_S)
    return result, elapsed, polls


def post_import(base_url: str, key: str, body: bytes, fmt: str) -> int:
    with httpx.Client(base_url=base_url, timeout=300.0) as client:
        response = client.post(
            "/api/v1/imports",
            params={"format": fmt, "on_error": "skip"},
            content=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
    return response.status_code


def idle(base_url: str) -> Measured:
    _, elapsed, polls = while_polling(base_url, lambda: time.sleep(IDLE_POLL_S))
    return Measured("idle (no import)", 0, 0, elapsed, polls)


def run(rounds: int) -> list[Measured]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from app.schema.migrate import upgrade
    from tests.conftest import new_key_in
    from tests.servers import running_server

    measured: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="claims-freeze-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'freeze.db'}"
        upgrade(url)
        key = new_key_in(url, "editor")
        with running_server(url, api_key=key) as server:
            measured.append(idle(server.base_url))
            review = claimreview_body()
            base = server.base_url
            for round_number in range(rounds):
                for name, body, fmt in (
                    (f"claimreview {APPEARANCES:,} URLs", review, "claimreview"),
                    (f"records x {RECORDS:,} (new)", records_body(f"r{round_number}-"), "records"),
                ):
                    status, elapsed, polls = while_polling(
                        base, partial(post_import, base, key, body, fmt)
                    )
                    measured.append(Measured(name, len(body), status, elapsed, polls))
    return measured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="times each scenario runs")
    args = parser.parse_args(argv)
    for result in run(max(1, min(args.rounds, 20))):
        print(result.line(), flush=True)


if __name__ == "__main__":
    main()
