"""Issue 17's test: ``claimtracker serve --workers 4`` with DEFAULT settings on PostgreSQL,
directly and through PgBouncer in transaction mode. 32 writers create claims while a poller
follows /changes, then 50 editors race on one claim with If-Match, retrying on 412 (and on
503 after its Retry-After). Zero 500s, zero dropped connections, no acknowledged edit lost, a
complete feed, and the server never holds more connections than its budget."""

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.schema.migrate import upgrade
from tests.conftest import PG_URL, create_pg_database, drop_pg_database, new_key_in
from tests.deploy.pgbouncer import have_pgbouncer, running_pgbouncer, through
from tests.servers import Server, running_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.soak,
    pytest.mark.postgres_only,
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set CLAIMS_TEST_PG_URL"),
]

CLAIMS = "/api/v1/claims"
WRITERS, CLAIMS_EACH = 32, 25
EDITORS, MAX_ATTEMPTS = 50, 400
DEADLINE_SECONDS = 240.0
STARTUP = 120.0  # four workers importing the app on a busy two-core machine


@dataclass
class Tally:
    """What the clients saw, shared by their threads."""

    statuses: Counter[int] = field(default_factory=Counter)
    dropped: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, client: httpx.Client, method: str, url: str, **kwargs: Any) -> Any:
        """The request, repeated after Retry-After while the answer is 503."""
        while True:
            try:
                response = client.request(method, url, **kwargs)
            except httpx.TransportError as exc:  # a dropped connection: counted, then retried
                with self.lock:
                    self.dropped.append(f"{method} {url}: {exc!r}")
                continue
            with self.lock:
                self.statuses[response.status_code] += 1
            if response.status_code != 503:
                return response
            assert response.headers["retry-after"].isdigit()
            time.sleep(min(float(response.headers["retry-after"]), 0.2))


def write_claims(server: Server, tally: Tally, n: int) -> list[int]:
    ids = []
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as client:
        for k in range(CLAIMS_EACH):
            body = {"statement": f"Writer {n} says claim {k} happened.", "language": "en"}
            response = tally.request(client, "POST", CLAIMS, json=body)
            assert response.status_code == 201, response.text
            ids.append(int(response.json()["id"]))
    return ids


def follow_feed(
    server: Server, tally: Tally, writing: threading.Event, expected: list[int]
) -> list[int]:
    """Poll /changes until the writers are done and ``expected[0]`` revisions arrived. The
    feed's watermark is server-wide: a write transaction anywhere on the server (another
    database's) delays entries, never loses them, so an empty page is not the end."""
    seen: list[int] = []
    after = 0
    deadline = time.monotonic() + DEADLINE_SECONDS
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as client:
        while time.monotonic() < deadline:
            still_writing = writing.is_set()
            params = {"after": after, "limit": 200}
            page = tally.request(client, "GET", "/api/v1/changes", params=params).json()
            seen.extend(item["id"] for item in page["items"])
            after = page["next_after"]
            if not page["items"]:
                if not still_writing and len(seen) >= expected[0]:
                    return seen
                time.sleep(0.05)
    return seen


def edit(server: Server, tally: Tally, claim_id: int, n: int, start: threading.Barrier) -> str:
    """Append a token with If-Match, re-reading on 412; the acknowledged value."""
    token = f"e{n}"
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as client:
        start.wait()
        for _ in range(MAX_ATTEMPTS):
            current = tally.request(client, "GET", f"{CLAIMS}/{claim_id}")
            assert current.status_code == 200, current.text
            response = tally.request(
                client,
                "PATCH",
                f"{CLAIMS}/{claim_id}",
                json={"context": f"{current.json()['context']} {token}"},
                headers={"If-Match": current.headers["etag"]},
            )
            if response.status_code == 200:
                return str(response.json()["context"])
            assert response.status_code == 412, response.text
    raise AssertionError(f"editor {n} ran out of attempts")


class PeakConnections:
    """Samples the server connections the app holds to its database, in the background."""

    def __init__(self, database: str) -> None:
        self.database, self.peak = database, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        engine = create_engine(PG_URL, pool_size=1)
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
        )
        try:
            with engine.connect() as conn:
                while not self._stop.is_set():
                    count = conn.execute(query, {"db": self.database}).scalar_one()
                    conn.commit()
                    self.peak = max(self.peak, int(count))
                    time.sleep(0.05)
        finally:
            engine.dispose()

    def __enter__(self) -> "PeakConnections":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def database_url() -> Iterator[str]:
    url = create_pg_database(prefix="claims_deploy")
    try:
        upgrade(url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(params=["direct", "pgbouncer"])
def served(request: pytest.FixtureRequest, database_url: str) -> Iterator[tuple[str, Server]]:
    """``claimtracker serve --workers 4``, default settings, straight to PostgreSQL or through
    PgBouncer (transaction mode; the app told so, to prepare no statements)."""
    key = new_key_in(database_url, "editor", "deploy test")
    if request.param == "direct":
        with running_server(
            database_url, workers=4, api_key=key, via_cli=True, startup_timeout=STARTUP
        ) as server:
            yield "direct", server
        return
    if not have_pgbouncer():
        pytest.skip("pgbouncer is not installed")
    with running_pgbouncer(database_url) as port:
        url = through(database_url, port)
        env = {"CLAIMS_DB_POOLER": "true"}
        with running_server(
            url, workers=4, env=env, api_key=key, via_cli=True, startup_timeout=STARTUP
        ) as server:
            yield "pgbouncer", server


def test_four_workers_with_default_settings_under_writers_and_racing_editors(
    served: tuple[str, Server], database_url: str, request: pytest.FixtureRequest
) -> None:
    route, server = served
    tally = Tally()
    writing = threading.Event()
    writing.set()
    started = time.monotonic()
    database = str(make_url(database_url).database)
    with (
        PeakConnections(database) as peak,
        ThreadPoolExecutor(max_workers=WRITERS + EDITORS + 1) as pool,
    ):
        expected = [WRITERS * CLAIMS_EACH + 1 + EDITORS]
        poller = pool.submit(follow_feed, server, tally, writing, expected)
        writers = [pool.submit(write_claims, server, tally, n) for n in range(WRITERS)]
        created = [claim_id for w in writers for claim_id in w.result(DEADLINE_SECONDS)]
        writes_seconds = time.monotonic() - started

        with httpx.Client(base_url=server.base_url, headers=server.headers) as client:
            body = {"statement": "The racing editors' claim.", "context": "start"}
            target = int(tally.request(client, "POST", CLAIMS, json=body).json()["id"])
        start = threading.Barrier(EDITORS, timeout=60)
        editors = [pool.submit(edit, server, tally, target, n, start) for n in range(EDITORS)]
        acknowledged = [e.result(DEADLINE_SECONDS) for e in editors]
        writing.clear()
        seen = poller.result(DEADLINE_SECONDS)

    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as client:
        final = client.get(f"{CLAIMS}/{target}").json()
        # A second reader from the start, as patient as the poller.
        writing.clear()
        everything = follow_feed(server, tally, writing, expected)

    budget = re.search(
        r'"event":"connection_budget_derived".*?"budget":(\d+),"workers":(\d+)', server.log()
    )
    request.node.user_properties.extend(
        [
            ("route", route),
            ("statuses", dict(tally.statuses)),
            ("peak_server_connections", peak.peak),
            ("budget", budget.group(1) if budget else None),
            ("claims_per_second", round(len(created) / writes_seconds, 1)),
        ]
    )
    print(route, dict(tally.statuses), "peak", peak.peak, "budget", budget and budget.group(1))
    assert tally.statuses[500] == 0, server.log()
    assert not tally.dropped, tally.dropped[:5]
    assert "too many clients" not in server.log()
    assert len(set(created)) == WRITERS * CLAIMS_EACH
    # Every acknowledged edit is in the final value: each built on the one before.
    tokens = final["context"].split()[1:]  # after "start"
    assert sorted(tokens) == sorted(f"e{n}" for n in range(EDITORS))
    assert final["version"] == 1 + EDITORS
    assert sorted(acknowledged, key=len)[-1] == final["context"]
    # The feed: one revision per create and per edit, and the poller saw each once, in order.
    assert len(everything) == WRITERS * CLAIMS_EACH + 1 + EDITORS
    assert seen == everything
    assert budget is not None, server.log()
    assert budget.group(2) == "4"
    assert peak.peak <= int(budget.group(1))
