"""Writers in several OS processes, one database, and a poller: on SQLite and on PostgreSQL.

Three servers (one worker process each, so three processes with connections of their own)
share one database. Writer threads create and edit claims through all three, and also race on
a few shared claims with If-Match (re-read and retry on 412); on PostgreSQL a staller keeps
some writer transactions open after their revision is written. A poller follows /changes,
each poll on the next server. Afterwards: every committed revision reached the poller exactly
once, in the order two full re-reads (on two servers) give; no acknowledged edit is lost.
"""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest

from tests.conftest import new_key_in
from tests.history.feed_traffic import (
    CLAIMS,
    WRITE_SECONDS,
    FeedReader,
    WriteLog,
    assert_the_poller_saw_the_feed,
    full_feed,
    http_client,
    read_feed_while,
    stall_commits,
    write_until,
)
from tests.servers import Server, running_server

pytestmark = [pytest.mark.slow, pytest.mark.soak]

SERVERS = 3
SHARED_CLAIMS = 6
CONTEXT_MAX = 500  # a claim's context is at most this long: a full one takes no more tokens
MAX_ATTEMPTS = 200  # far above what a healthy run needs; only stops a broken server
GROUP_TIMEOUT = 90.0


@pytest.fixture
def database_url(migrated_database_url: str) -> str:
    """A fresh migrated database of its own per backend: these tests commit for real."""
    return migrated_database_url


@pytest.fixture
def servers(database_url: str) -> Iterator[list[Server]]:
    key = new_key_in(database_url, "editor", "several processes")
    with ExitStack() as stack:
        yield [
            stack.enter_context(running_server(database_url, workers=1, api_key=key))
            for _ in range(SERVERS)
        ]


def append_tokens(
    server: Server, claim_ids: list[int], n: int, log: WriteLog, stop: threading.Event
) -> list[tuple[int, str]]:
    """Append this writer's tokens to the shared claims in turn, read-modify-write with
    If-Match, starting over on 412; the (claim, token) pairs the server acknowledged. A claim
    whose context has no room left for a token is done; so is the writer when all are."""
    acknowledged: list[tuple[int, str]] = []
    deadline = time.monotonic() + WRITE_SECONDS + 30
    full: set[int] = set()
    with http_client(server) as client:
        made = 0
        while not stop.is_set() and time.monotonic() < deadline and len(full) < len(claim_ids):
            claim_id, token = claim_ids[made % len(claim_ids)], f"p{n}t{made}"
            made += 1
            if claim_id in full:
                continue
            for _ in range(MAX_ATTEMPTS):
                current = client.get(f"{CLAIMS}/{claim_id}")
                assert current.status_code == 200, current.text
                context = f"{current.json()['context']} {token}"
                if len(context) > CONTEXT_MAX:
                    full.add(claim_id)
                    break
                log.start()
                response = client.patch(
                    f"{CLAIMS}/{claim_id}",
                    json={"context": context},
                    headers={"If-Match": current.headers["etag"]},
                )
                log.finish(acknowledged=response.status_code == 200)
                if response.status_code == 200:
                    acknowledged.append((claim_id, token))
                    break
                assert response.status_code == 412, response.text
            else:
                raise AssertionError(f"{token} never landed")
    return acknowledged


class TestWritersInSeveralProcesses:
    def test_the_feed_is_complete_ordered_and_stable_and_no_acknowledged_edit_is_lost(
        self, servers: list[Server], database_url: str, request: pytest.FixtureRequest
    ) -> None:
        log = WriteLog()
        shared: list[int] = []
        with http_client(servers[0]) as client:
            for n in range(SHARED_CLAIMS):
                response = client.post(CLAIMS, json={"statement": f"shared {n}", "context": "s"})
                assert response.status_code == 201, response.text
                shared.append(response.json()["id"])
        log.acknowledged += SHARED_CLAIMS

        reader = FeedReader()
        stop, writing = threading.Event(), threading.Event()
        writing.set()
        postgres = database_url.startswith("postgresql")
        with ThreadPoolExecutor(max_workers=2 * SERVERS + 2) as pool:
            reading = pool.submit(read_feed_while, servers, reader, writing, log)
            stalling = pool.submit(stall_commits, database_url, log, stop) if postgres else None
            creators = [
                pool.submit(write_until, server, n, log, stop) for n, server in enumerate(servers)
            ]
            appenders = [
                pool.submit(append_tokens, server, shared, n, log, stop)
                for n, server in enumerate(servers)
            ]
            time.sleep(WRITE_SECONDS)
            stop.set()
            try:
                for creator in creators:
                    creator.result(timeout=GROUP_TIMEOUT)
                appended = [pair for a in appenders for pair in a.result(timeout=GROUP_TIMEOUT)]
                stalls = stalling.result(timeout=GROUP_TIMEOUT) if stalling else 0
            finally:
                writing.clear()
            reading.result(timeout=GROUP_TIMEOUT)

        with http_client(servers[1]) as first, http_client(servers[2]) as second:
            everything = full_feed(first)
            again = full_feed(second)
            contexts = {claim_id: current(first, claim_id) for claim_id in shared}
        request.node.user_properties.extend(
            [("writes", log.acknowledged), ("polls", reader.polls), ("stalls", stalls)]
        )
        assert log.most_in_flight >= 2, "the writers never overlapped"
        assert reader.polls > 10
        assert [item["id"] for item in again] == [item["id"] for item in everything]
        assert len(everything) == log.acknowledged
        assert_the_poller_saw_the_feed(reader, everything)
        for claim_id, token in appended:
            assert token in contexts[claim_id].split(), f"acknowledged {token} was lost"
        assert sum(len(value.split()) - 1 for value in contexts.values()) == len(appended)


def current(client: httpx.Client, claim_id: int) -> str:
    response = client.get(f"{CLAIMS}/{claim_id}")
    assert response.status_code == 200, response.text
    context: str = response.json()["context"]
    return context
