"""The change stream under real concurrent writers in several server processes on one
database, SQLite and PostgreSQL: a reader that reconnects in the middle (Last-Event-ID, on
another server) gets every revision of the feed exactly once, in the feed's order."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest

from tests.conftest import new_key_in
from tests.history.feed_traffic import (
    WRITE_SECONDS,
    WriteLog,
    full_feed,
    http_client,
    stall_commits,
    write_until,
)
from tests.history.stream_client import StreamReader
from tests.servers import Server, running_server

pytestmark = pytest.mark.slow
GROUP_TIMEOUT = 90.0


@pytest.fixture
def database_url(migrated_database_url: str) -> str:
    """A fresh migrated database of its own per backend: these tests commit for real."""
    return migrated_database_url


def servers(database_url: str, n: int, stack: ExitStack) -> list[Server]:
    key = new_key_in(database_url, "editor", "several processes")
    return [
        stack.enter_context(running_server(database_url, workers=1, api_key=key)) for _ in range(n)
    ]


def follow_with_a_reconnect(
    group: list[Server], writing: threading.Event, log: WriteLog
) -> list[int]:
    """Read the stream on the first server; after a while drop it and resume on the second with
    Last-Event-ID; read until every acknowledged write has come through."""
    seen: list[int] = []
    reader = StreamReader(group[0].base_url, group[0].headers).start()
    seen += [event.id for event in reader.take_while(lambda got: len(got) < 30, timeout=30)]
    reader.stop.set()
    assert seen, "no event came before the reconnect"
    resumed = StreamReader(
        group[1].base_url, {**group[1].headers, "Last-Event-ID": str(seen[-1])}
    ).start()
    deadline = time.monotonic() + WRITE_SECONDS + 60
    while (writing.is_set() or len(seen) < log.acknowledged) and time.monotonic() < deadline:
        seen += [event.id for event in resumed.take_while(lambda got: len(got) < 50, timeout=0.5)]
    resumed.stop.set()
    return seen


def run(database_url: str, n_servers: int, *, stall: bool) -> None:
    log = WriteLog()
    stop, writing = threading.Event(), threading.Event()
    writing.set()
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=2 * n_servers + 2) as pool:
        group = servers(database_url, n_servers, stack)
        reading = pool.submit(follow_with_a_reconnect, group, writing, log)
        stalling = pool.submit(stall_commits, database_url, log, stop) if stall else None
        writers = [pool.submit(write_until, server, n, log, stop) for n, server in enumerate(group)]
        time.sleep(WRITE_SECONDS)
        stop.set()
        try:
            for writer in writers:
                writer.result(timeout=GROUP_TIMEOUT)
            if stalling:
                stalling.result(timeout=GROUP_TIMEOUT)
        finally:
            writing.clear()
        seen = reading.result(timeout=GROUP_TIMEOUT)
        with http_client(group[-1]) as api:
            everything = [item["id"] for item in full_feed(api)]
    assert log.most_in_flight >= 2, "the writers never overlapped"
    assert len(everything) == log.acknowledged
    assert len(set(seen)) == len(seen), "the stream sent a revision twice"
    missed = sorted(set(everything) - set(seen))
    assert not missed, f"the stream skipped committed revisions {missed[:20]}"
    assert seen == everything, "the stream's order is not the feed's"


def test_two_processes_a_reconnect_every_revision_once_in_feed_order(database_url: str) -> None:
    run(database_url, 2, stall=False)


@pytest.mark.soak
def test_three_processes_stalled_commits_a_reconnect_every_revision_once(
    database_url: str,
) -> None:
    run(database_url, 3, stall=database_url.startswith("postgresql"))
