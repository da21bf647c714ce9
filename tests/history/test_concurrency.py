"""Optimistic concurrency and the change feed under real parallel traffic, on PostgreSQL.

Every test starts the real server (uvicorn, two worker processes) on a fresh, migrated database
and drives it from many threads at once, each with its own HTTP connection, so requests truly
overlap across processes and database connections. A barrier releases the contending requests
together; every loop is bounded in count and in time.
"""

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from app.schema.migrate import upgrade
from tests.conftest import PG_URL, create_pg_database, drop_pg_database, new_key_in
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

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not PG_URL,
        reason="needs PostgreSQL: set CLAIMS_TEST_PG_URL (row locks, the feed's watermark, "
        "and real servers with several workers sharing one database)",
    ),
]

PROBLEM_JSON = "application/problem+json"
EDITORS = 20
# Upper bound for a whole group of parallel clients; far above what a healthy run takes.
GROUP_TIMEOUT = 45.0

T = TypeVar("T")


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database of its own, migrated to head, dropped afterwards."""
    url = create_pg_database(prefix="claims_concurrency")
    try:
        upgrade(url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def api_key(database_url: str) -> str:
    """An editor's key in that database: every request of these tests sends it."""
    return new_key_in(database_url, "editor", "concurrency test")


@pytest.fixture
def server(database_url: str, api_key: str) -> Iterator[Server]:
    with running_server(database_url, workers=2, api_key=api_key) as running:
        yield running


@pytest.fixture
def naive_server(database_url: str, api_key: str) -> Iterator[Server]:
    """A server that lets writes through without If-Match, as trusted scripts may ask for."""
    with running_server(
        database_url, workers=2, env={"CLAIMS_REQUIRE_IF_MATCH": "false"}, api_key=api_key
    ) as running:
        yield running


def create_claim(client: httpx.Client, **fields: Any) -> tuple[int, str]:
    """POST a claim; its id and ETag."""
    body = {"statement": "Everything east of the Bakhmutka river is under Wagner's control."}
    body.update(fields)
    response = client.post(CLAIMS, json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"]), response.headers["etag"]


def run_together(count: int, work: Callable[[int, threading.Barrier], T]) -> list[T]:
    """Run ``work(n, barrier)`` for n in 0..count-1 on as many threads; their results in order.

    Each worker calls ``barrier.wait()`` right before the request that must overlap the others.
    """
    barrier = threading.Barrier(count, timeout=GROUP_TIMEOUT)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, n, barrier) for n in range(count)]
        return [future.result(timeout=GROUP_TIMEOUT) for future in futures]


def history_of(client: httpx.Client, claim_id: int) -> list[dict[str, Any]]:
    response = client.get(f"{CLAIMS}/{claim_id}/history", params={"limit": 200})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None, "more revisions than this test ever writes"
    return list(page["items"])


def assert_history_verifies(client: httpx.Client) -> None:
    report = client.get("/api/v1/history/verify").json()
    assert report["ok"] is True, report


def tokens_in(value: str) -> list[str]:
    return value.split()[1:]  # the first word is the initial "start"


# --- 1. one ETag, twenty editors ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    content_type: str
    body: dict[str, Any]


class TestTwentyEditorsSendingTheSameIfMatch:
    def test_exactly_one_edit_wins_and_the_other_nineteen_get_412_problems(
        self, server: Server
    ) -> None:
        with http_client(server) as client:
            claim_id, etag = create_claim(client, context="start")
        assert etag == '"v1"'

        def edit(n: int, barrier: threading.Barrier) -> Reply:
            with http_client(server) as client:
                client.get("/healthz")  # open the connection before the race, not during it
                barrier.wait()
                response = client.patch(
                    f"{CLAIMS}/{claim_id}",
                    json={"context": f"editor {n}"},
                    headers={"If-Match": etag},
                )
            return Reply(response.status_code, response.headers["content-type"], response.json())

        replies = run_together(EDITORS, edit)

        assert Counter(reply.status for reply in replies) == {200: 1, 412: EDITORS - 1}
        losers = [reply for reply in replies if reply.status == 412]
        assert all(reply.content_type == PROBLEM_JSON for reply in losers)
        assert all(reply.body["status"] == 412 for reply in losers)
        (winner,) = (reply for reply in replies if reply.status == 200)
        with http_client(server) as client:
            current = client.get(f"{CLAIMS}/{claim_id}")
            history = history_of(client, claim_id)
            assert_history_verifies(client)
        assert current.headers["etag"] == '"v2"'
        assert current.json()["context"] == winner.body["context"]
        assert [revision["version"] for revision in history] == [1, 2]
        assert history[1]["changes"]["context"] == {"from": "start", "to": winner.body["context"]}


# --- 2 and 3. read-modify-write, with and without If-Match -------------------------------------


@dataclass(slots=True)
class EditOutcome:
    token: str
    acknowledged_value: str | None = None  # the context the 200 response carried
    attempts: int = 0

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_value is not None


# With 20 editors at most 19 other edits can commit between one editor's read and its write,
# so 20 attempts always suffice; the bound only stops a broken server from spinning forever.
MAX_ATTEMPTS = 40


def append_with_retries(
    server: Server, claim_id: int, n: int, barrier: threading.Barrier
) -> EditOutcome:
    """The careful client: read, append its token, write with If-Match; on 412 start over."""
    outcome = EditOutcome(token=f"e{n}")
    deadline = time.monotonic() + GROUP_TIMEOUT
    with http_client(server) as client:
        client.get("/healthz")
        barrier.wait()
        while outcome.attempts < MAX_ATTEMPTS and time.monotonic() < deadline:
            outcome.attempts += 1
            current = client.get(f"{CLAIMS}/{claim_id}")
            assert current.status_code == 200, current.text
            response = client.patch(
                f"{CLAIMS}/{claim_id}",
                json={"context": f"{current.json()['context']} {outcome.token}"},
                headers={"If-Match": current.headers["etag"]},
            )
            if response.status_code == 200:
                outcome.acknowledged_value = response.json()["context"]
                break
            assert response.status_code == 412, response.text
            assert response.headers["content-type"] == PROBLEM_JSON
    return outcome


# Long enough that the other editors' reads land between this editor's read and its write.
NAIVE_THINK_TIME = 0.05


def append_without_if_match(
    server: Server, claim_id: int, n: int, barrier: threading.Barrier
) -> EditOutcome:
    """The naive client: read, think a moment, write blindly (no If-Match, no retry)."""
    outcome = EditOutcome(token=f"e{n}", attempts=1)
    with http_client(server) as client:
        client.get("/healthz")
        barrier.wait()
        current = client.get(f"{CLAIMS}/{claim_id}")
        assert current.status_code == 200, current.text
        time.sleep(NAIVE_THINK_TIME)
        response = client.patch(
            f"{CLAIMS}/{claim_id}",
            json={"context": f"{current.json()['context']} {outcome.token}"},
        )
        assert response.status_code == 200, response.text
        outcome.acknowledged_value = response.json()["context"]
    return outcome


class TestEditorsWhoRereadAndRetryOn412:
    def test_every_acknowledged_edit_survives_in_the_value_and_the_history(
        self, server: Server
    ) -> None:
        with http_client(server) as client:
            claim_id, _ = create_claim(client, context="start")

        outcomes = run_together(
            EDITORS, lambda n, barrier: append_with_retries(server, claim_id, n, barrier)
        )

        acknowledged = [outcome for outcome in outcomes if outcome.acknowledged]
        assert len(acknowledged) == EDITORS, "an editor ran out of attempts"
        with http_client(server) as client:
            current = client.get(f"{CLAIMS}/{claim_id}")
            history = history_of(client, claim_id)
            assert_history_verifies(client)
        final = current.json()
        assert final["version"] == 1 + len(acknowledged)
        assert current.headers["etag"] == f'"v{final["version"]}"'
        assert sorted(tokens_in(final["context"])) == sorted(o.token for o in acknowledged)

        assert [revision["version"] for revision in history] == list(range(1, final["version"] + 1))
        written = [revision["changes"]["context"] for revision in history[1:]]
        assert {change["to"] for change in written} == {o.acknowledged_value for o in acknowledged}
        # Each edit started from the value the one before it wrote: a chain, nothing overwritten.
        previous = "start"
        for change in written:
            assert change["from"] == previous
            previous = change["to"]
        assert previous == final["context"]
        assert sum(outcome.attempts for outcome in outcomes) > EDITORS, "the edits never raced"


class TestNaiveEditorsWithoutIfMatch:
    """Negative control for the test above: the same edits without a version check lose data.

    This documents why If-Match is required; the app is right to refuse such writes by default.
    It shows the retrying test can fail: were the version check missing, it would see this.
    """

    def test_concurrent_blind_writes_lose_acknowledged_edits(
        self, naive_server: Server, request: pytest.FixtureRequest
    ) -> None:
        with http_client(naive_server) as client:
            claim_id, _ = create_claim(client, context="start")

        outcomes = run_together(
            EDITORS,
            lambda n, barrier: append_without_if_match(naive_server, claim_id, n, barrier),
        )

        acknowledged = [outcome for outcome in outcomes if outcome.acknowledged]
        assert len(acknowledged) == EDITORS  # every client was told its edit was saved
        with http_client(naive_server) as client:
            final = client.get(f"{CLAIMS}/{claim_id}").json()
            history = history_of(client, claim_id)
            assert_history_verifies(client)
        surviving = set(tokens_in(final["context"]))
        lost = [o.token for o in acknowledged if o.token not in surviving]
        request.node.user_properties.append(("lost_edits", len(lost)))  # in --junitxml
        assert len(lost) >= 1, f"no edit was lost; final value {final['context']!r}"
        # The history still records every write, lost or not: it is how you find what was lost.
        assert final["version"] == 1 + len(acknowledged)
        assert [revision["version"] for revision in history] == list(range(1, final["version"] + 1))


# --- 4. the change feed while writers overlap ------------------------------------------------


WRITERS = 4


class TestChangeFeedUnderConcurrentWriters:
    def test_a_poller_sees_every_committed_revision_exactly_once_and_in_order(
        self, server: Server, database_url: str, request: pytest.FixtureRequest
    ) -> None:
        log = WriteLog()
        reader = FeedReader()
        stop, writing = threading.Event(), threading.Event()
        writing.set()
        with ThreadPoolExecutor(max_workers=WRITERS + 2) as pool:
            reading = pool.submit(read_feed_while, [server], reader, writing, log)
            stalling = pool.submit(stall_commits, database_url, log, stop)
            writers = [pool.submit(write_until, server, n, log, stop) for n in range(WRITERS)]
            time.sleep(WRITE_SECONDS)
            stop.set()
            try:
                requests = sum(writer.result(timeout=GROUP_TIMEOUT) for writer in writers)
                stalls = stalling.result(timeout=GROUP_TIMEOUT)
            finally:
                writing.clear()
            reading.result(timeout=GROUP_TIMEOUT)

        with http_client(server) as client:
            everything = full_feed(client)
            assert_history_verifies(client)
        all_ids = [item["id"] for item in everything]
        request.node.user_properties.extend(
            [("writes", log.acknowledged), ("polls", reader.polls), ("stalls", stalls)]
        )
        assert requests == log.acknowledged, "a write was refused"
        assert log.most_in_flight >= 2, "the writers never overlapped"
        assert stalls >= 3, "no writer transaction was slowed down"
        assert reader.polls > 10
        # Each create and each patch is one revision; the database holds nothing else.
        assert len(all_ids) == log.acknowledged
        assert_the_poller_saw_the_feed(reader, everything)
