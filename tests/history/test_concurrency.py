"""Optimistic concurrency and the change feed under real parallel traffic, on PostgreSQL.

Every test starts the real server (uvicorn, two worker processes) on a fresh, migrated database
and drives it from many threads at once, each with its own HTTP connection, so requests truly
overlap across processes and database connections. A barrier releases the contending requests
together; every loop is bounded in count and in time.
"""

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.schema.migrate import upgrade
from tests.conftest import PG_URL, create_pg_database, drop_pg_database, new_key_in
from tests.servers import Server, running_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        not PG_URL,
        reason="needs PostgreSQL: set CLAIMS_TEST_PG_URL (row locks, advisory feed lock, "
        "and real servers with several workers sharing one database)",
    ),
]

CLAIMS = "/api/v1/claims"
PROBLEM_JSON = "application/problem+json"
EDITORS = 20
HTTP_TIMEOUT = 30.0
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


def http_client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=HTTP_TIMEOUT, headers=server.headers)


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
WRITE_SECONDS = 3.0
MAX_WRITES_PER_WRITER = 3_000
CREATE_EVERY = 4  # one create, then three patches, per writer
FEED_PAGE = 200
STALL_SECONDS = 0.15


@dataclass(slots=True)
class WriteLog:
    """What the writers were told: every 201/200 is a revision the feed must carry."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    claim_ids: list[int] = field(default_factory=list)

    def start(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def finish(self, *, acknowledged: bool, claim_id: int | None = None) -> None:
        with self.lock:
            self.in_flight -= 1
            self.acknowledged += acknowledged
            if claim_id is not None:
                self.claim_ids.append(claim_id)

    def some_claim(self, rng: random.Random) -> int | None:
        with self.lock:
            return rng.choice(self.claim_ids[-20:]) if self.claim_ids else None


def write_until(server: Server, n: int, log: WriteLog, stop: threading.Event) -> int:
    """Create claims and patch them, as fast as possible, until told to stop; requests made.

    Each writer edits only its own newest claim with the ETag it was given, so every request is
    expected to succeed: any other answer fails the test.
    """
    newest: tuple[int, str] | None = None  # (claim id, its ETag)
    deadline = time.monotonic() + WRITE_SECONDS + 5
    made = 0
    with http_client(server) as client:
        while not stop.is_set() and made < MAX_WRITES_PER_WRITER and time.monotonic() < deadline:
            log.start()
            if newest is None or made % CREATE_EVERY == 0:
                response = client.post(
                    CLAIMS, json={"statement": f"writer {n} claim {made}", "topics": ["feed"]}
                )
                ok = response.status_code == 201
            else:
                response = client.patch(
                    f"{CLAIMS}/{newest[0]}",
                    json={"context": f"writer {n} edit {made}"},
                    headers={"If-Match": newest[1]},
                )
                ok = response.status_code == 200
            made += 1
            created = response.status_code == 201
            log.finish(acknowledged=ok, claim_id=response.json()["id"] if created else None)
            assert ok, response.text
            newest = (response.json()["id"], response.headers["etag"])
    return made


def stall_commits(database_url: str, log: WriteLog, stop: threading.Event) -> int:
    """Make some writer transactions slow to commit after their revision id is taken.

    A claim PATCH records its revision (taking the feed lock and a revision id) and only then
    rewrites the claim's topic rows. Holding those rows locked from outside keeps that writer's
    transaction open with its id assigned: exactly the moment when a later id could commit first
    and a poller skip the earlier one, unless the feed lock orders the commits. Returns stalls.
    """
    rng = random.Random(7)
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    stalls = 0
    deadline = time.monotonic() + WRITE_SECONDS + 5
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            claim_id = log.some_claim(rng)
            if claim_id is not None:
                with engine.begin() as conn:
                    conn.execute(
                        text("SELECT 1 FROM claim_topic WHERE claim_id = :id FOR UPDATE"),
                        {"id": claim_id},
                    )
                    time.sleep(STALL_SECONDS)
                stalls += 1
            time.sleep(0.05)
    finally:
        engine.dispose()
    return stalls


@dataclass(slots=True)
class FeedReader:
    after: int = 0
    seen: list[int] = field(default_factory=list)
    polls: int = 0

    def poll(self, client: httpx.Client) -> int:
        """One page after the last id seen; how many revisions it held."""
        response = client.get("/api/v1/changes", params={"after": self.after, "limit": FEED_PAGE})
        assert response.status_code == 200, response.text
        page = response.json()
        self.seen.extend(item["id"] for item in page["items"])
        self.after = page["next_after"]
        self.polls += 1
        return len(page["items"])


def read_feed_while(server: Server, reader: FeedReader, writing: threading.Event) -> None:
    """Poll while the writers run, then drain until a page comes back empty."""
    deadline = time.monotonic() + WRITE_SECONDS + 20
    with http_client(server) as client:
        while writing.is_set() and time.monotonic() < deadline:
            reader.poll(client)
            time.sleep(0.002)
        while time.monotonic() < deadline and reader.poll(client) > 0:
            pass


def full_feed(client: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = 0
    for _ in range(1_000):
        page = client.get("/api/v1/changes", params={"after": after, "limit": FEED_PAGE}).json()
        items.extend(page["items"])
        if not page["items"]:
            return items
        after = page["next_after"]
    raise AssertionError("the feed did not end")


class TestChangeFeedUnderConcurrentWriters:
    def test_a_poller_sees_every_committed_revision_exactly_once_and_in_order(
        self, server: Server, database_url: str, request: pytest.FixtureRequest
    ) -> None:
        log = WriteLog()
        reader = FeedReader()
        stop, writing = threading.Event(), threading.Event()
        writing.set()
        with ThreadPoolExecutor(max_workers=WRITERS + 2) as pool:
            reading = pool.submit(read_feed_while, server, reader, writing)
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
        assert all(a < b for a, b in zip(reader.seen, reader.seen[1:], strict=False)), (
            "the poller saw an id twice or out of order"
        )
        missed = sorted(set(all_ids) - set(reader.seen))
        assert not missed, f"the poller skipped committed revisions {missed[:20]}"
        assert reader.seen == all_ids
        versions: dict[int, list[int]] = {}
        for item in everything:
            versions.setdefault(item["entity_id"], []).append(item["version"])
        assert all(v == list(range(1, len(v) + 1)) for v in versions.values())


class TestRowLockAndFeedLockOrder:
    def test_editing_a_speaker_while_a_claim_cites_it_does_not_deadlock(
        self, server: Server, database_url: str
    ) -> None:
        """Regression: a write holding a speaker's row lock waits for the feed lock, while the
        feed-lock holder inserts a claim whose foreign-key check needs a key-share lock on that
        speaker. With FOR UPDATE that deadlocked (PostgreSQL aborted one: 503); the row lock
        is FOR NO KEY UPDATE, which key-share locks do not conflict with."""
        from app.history.service import FEED_LOCK_KEY

        with http_client(server) as client:
            created = client.post("/api/v1/speakers", json={"name": "Yevgeny Prigozhin"})
            speaker_id, etag = created.json()["id"], created.headers["etag"]
        replies: dict[str, int] = {}

        def create_claim_citing_speaker() -> None:
            with http_client(server) as client:
                body = {"statement": "Wagner holds east Bakhmut.", "speaker_id": speaker_id}
                replies["create"] = client.post(CLAIMS, json=body).status_code

        def edit_speaker() -> None:
            with http_client(server) as client:
                replies["edit"] = client.patch(
                    f"/api/v1/speakers/{speaker_id}",
                    json={"role": "Founder of the Wagner Group"},
                    headers={"If-Match": etag},
                ).status_code

        engine = create_engine(database_url)
        try:
            with engine.connect() as holder:
                # Hold the feed lock so both writes queue behind it in a known order.
                holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FEED_LOCK_KEY})
                creator = threading.Thread(target=create_claim_citing_speaker)
                creator.start()
                time.sleep(0.5)
                editor = threading.Thread(target=edit_speaker)
                editor.start()
                time.sleep(0.5)
                holder.commit()
                creator.join(GROUP_TIMEOUT)
                editor.join(GROUP_TIMEOUT)
        finally:
            engine.dispose()
        assert replies == {"create": 201, "edit": 200}
