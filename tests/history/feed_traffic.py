"""Write traffic and a feed poller against real servers, for the change-feed tests.

Writers create claims and patch them as fast as they can; on PostgreSQL a staller keeps some
writer transactions open after their revision is written; a poller follows ``/changes`` the
way a client does. The tests then compare what the poller saw with what the writers were told.
"""

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from tests.servers import Server

CLAIMS = "/api/v1/claims"
HTTP_TIMEOUT = 30.0
WRITE_SECONDS = 3.0
MAX_WRITES_PER_WRITER = 3_000
CREATE_EVERY = 4  # one create, then three patches, per writer
FEED_PAGE = 200
STALL_SECONDS = 0.15


def http_client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=HTTP_TIMEOUT, headers=server.headers)


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
    expected to succeed: any other answer fails the test. Each patch changes the claim's topics
    too, so the write rewrites its topic rows after its revision is recorded (the staller's
    hook, below).
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
                    json={"context": f"writer {n} edit {made}", "topics": ["feed", f"e{made}"]},
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
    """Make some writer transactions slow to commit after their revision is written.

    A claim PATCH that changes topics records its revision (taking a revision id, its
    transaction holding an id of its own) and only then rewrites the claim's topic rows.
    Holding those rows locked from outside keeps that writer's transaction open at exactly the
    moment when a later revision could commit first and a poller skip the earlier one, unless
    the feed's order and watermark account for it. Returns how many times it held them.
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


def read_feed_while(
    servers: Sequence[Server], reader: FeedReader, writing: threading.Event, log: WriteLog
) -> None:
    """Poll while the writers run, then until every acknowledged write has come through. With
    several servers, each poll goes to the next one: the cursor means the same on all of them.

    Draining waits for a count, not for an empty page: on PostgreSQL a write transaction
    anywhere on the server (other test runs share it) holds the feed back until it ends.
    """
    deadline = time.monotonic() + WRITE_SECONDS + 30
    clients = [http_client(server) for server in servers]
    try:
        while writing.is_set() and time.monotonic() < deadline:
            reader.poll(clients[reader.polls % len(clients)])
            time.sleep(0.002)
        while len(reader.seen) < log.acknowledged and time.monotonic() < deadline:
            if not reader.poll(clients[reader.polls % len(clients)]):
                time.sleep(0.02)
    finally:
        for client in clients:
            client.close()


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


def assert_the_poller_saw_the_feed(reader: FeedReader, everything: list[dict[str, Any]]) -> None:
    """Exactly once each, in the one order the feed gives on a re-read; no version missing."""
    all_ids = [item["id"] for item in everything]
    assert len(set(reader.seen)) == len(reader.seen), "the poller saw a revision twice"
    missed = sorted(set(all_ids) - set(reader.seen))
    assert not missed, f"the poller skipped committed revisions {missed[:20]}"
    assert reader.seen == all_ids, "the poller saw another order than a re-read gives"
    versions: dict[tuple[str, int], list[int]] = {}
    for item in everything:
        versions.setdefault((item["entity_type"], item["entity_id"]), []).append(item["version"])
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
