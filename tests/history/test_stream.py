"""GET /changes/stream against real servers, on SQLite and PostgreSQL: what an event carries,
resuming, filters, heartbeats, auth, the limits, a slow consumer, and a clean shutdown."""

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sse_starlette.sse import EventSourceResponse, SendTimeoutError, ServerSentEvent
from structlog.testing import capture_logs

from app.stream.router import ChangeStreamResponse
from tests.conftest import new_key_in
from tests.history.stream_client import STREAM, StreamReader
from tests.servers import Server, running_server

pytestmark = pytest.mark.slow

CLAIMS = "/api/v1/claims"


@pytest.fixture
def database_url(migrated_database_url: str) -> str:
    """A fresh migrated database of its own per backend: these tests commit for real."""
    return migrated_database_url


def client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=server.headers, timeout=30)


def write_some(server: Server) -> None:
    """Two claims, a speaker, an edit."""
    with client(server) as api:
        first = api.post(CLAIMS, json={"statement": "one"}).json()
        api.post(CLAIMS, json={"statement": "two"}).raise_for_status()
        api.post("/api/v1/speakers", json={"name": "Someone"}).raise_for_status()
        api.patch(
            f"{CLAIMS}/{first['id']}", json={"place": "Kyiv"}, headers={"If-Match": '"v1"'}
        ).raise_for_status()


def wait_for_line(server: Server, text: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [line for line in server.log().splitlines() if text in line]
        if lines:
            return lines[0]
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} in the server's log:\n{server.log()[-3000:]}")


class TestEvents:
    def test_each_revision_is_one_event_carrying_the_changes_item_and_resumes(
        self, database_url: str
    ) -> None:
        key = new_key_in(database_url, "reader", "stream reader")
        writer = new_key_in(database_url, "editor", "writer")
        with running_server(database_url, api_key=writer) as server:
            reader = StreamReader(server.base_url, {"Authorization": f"Bearer {key}"}).start()
            assert reader.wait_for_status() == 200
            write_some(server)
            events = reader.take(4)
            with client(server) as api:  # read after the events: on PostgreSQL the feed may lag
                items = api.get("/api/v1/changes").json()["items"]
            assert [e.id for e in events] == [item["id"] for item in items]
            assert [e.event for e in events] == [
                "claim.created",
                "claim.created",
                "speaker.created",
                "claim.updated",
            ]
            assert [e.data for e in events] == items
            reader.stop.set()

            # Resuming: Last-Event-ID (what EventSource sends) wins over ?after=.
            resumed = StreamReader(
                server.base_url,
                {"Authorization": f"Bearer {key}", "Last-Event-ID": str(items[1]["id"])},
                params={"after": 0},
            ).start()
            assert [e.id for e in resumed.take(2)] == [items[2]["id"], items[3]["id"]]
            by_query = StreamReader(
                server.base_url, server.headers, params={"after": items[2]["id"]}
            ).start()
            assert [e.id for e in by_query.take(1)] == [items[3]["id"]]
            speakers = StreamReader(
                server.base_url, server.headers, params={"entity_type": "speaker"}
            ).start()
            assert [e.event for e in speakers.take(1)] == ["speaker.created"]
            with client(server) as api:
                api.post("/api/v1/speakers", json={"name": "Another"}).raise_for_status()
                api.post(CLAIMS, json={"statement": "three"}).raise_for_status()
            # The claim in between is left out; the next speaker comes.
            assert [e.data["snapshot"]["name"] for e in speakers.take(1)] == ["Another"]  # type: ignore[index]
            for open_reader in (resumed, by_query, speakers):
                open_reader.stop.set()

    def test_a_quiet_stream_sends_heartbeats(self, database_url: str) -> None:
        key = new_key_in(database_url, "reader", "quiet")
        settings = {"CLAIMS_STREAM_HEARTBEAT_SECONDS": "0.1"}
        with running_server(database_url, api_key=key, env=settings) as server:
            reader = StreamReader(server.base_url, server.headers).start()
            assert reader.wait_for_status() == 200
            deadline = time.monotonic() + 10
            while len(reader.comments) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert reader.comments[:2] == ["heartbeat", "heartbeat"]
            assert reader.events.empty()
            reader.stop.set()

    def test_a_bad_last_event_id_is_a_problem(self, database_url: str) -> None:
        key = new_key_in(database_url, "reader", "bad")
        with running_server(database_url, api_key=key) as server:
            response = httpx.get(
                server.base_url + STREAM, headers={**server.headers, "Last-Event-ID": "abc"}
            )
            assert response.status_code == 422
            assert response.headers["content-type"] == "application/problem+json"


class TestAccess:
    def test_without_a_key_401_and_with_public_read_anonymous_callers_stream(
        self, database_url: str
    ) -> None:
        with running_server(database_url) as server:
            response = httpx.get(server.base_url + STREAM)
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/problem+json"
        with running_server(database_url, env={"CLAIMS_PUBLIC_READ": "true"}) as server:
            reader = StreamReader(server.base_url).start()
            assert reader.wait_for_status() == 200
            reader.stop.set()

    def test_streams_are_limited_per_key_429_and_per_process_503(self, database_url: str) -> None:
        first, second = (new_key_in(database_url, "reader", name) for name in ("a", "b"))
        settings = {"CLAIMS_STREAM_MAX_PER_KEY": "1", "CLAIMS_STREAM_MAX_PER_PROCESS": "2"}
        with running_server(database_url, env=settings) as server:
            keyed = [{"Authorization": f"Bearer {key}"} for key in (first, second)]
            holding = StreamReader(server.base_url, keyed[0]).start()
            assert holding.wait_for_status() == 200
            again = httpx.get(server.base_url + STREAM, headers=keyed[0])
            assert again.status_code == 429
            assert again.headers["retry-after"] == "5"
            assert again.json()["status"] == 429
            other = StreamReader(server.base_url, keyed[1]).start()
            assert other.wait_for_status() == 200
            third = new_key_in(database_url, "reader", "c")
            full = httpx.get(server.base_url + STREAM, headers={"Authorization": f"Bearer {third}"})
            assert full.status_code == 503
            assert full.headers["retry-after"] == "5"
            assert full.headers["content-type"] == "application/problem+json"
            # A closed stream gives its place back.
            holding.stop.set()
            with client(server) as api:  # lets the stopped reader see its next line and close
                api.headers["Authorization"] = f"Bearer {new_key_in(database_url, 'editor', 'w')}"
                api.post(CLAIMS, json={"statement": "wake"}).raise_for_status()
            wait_for_line(server, '"stream_closed"')
            reopened = StreamReader(server.base_url, keyed[0]).start()
            assert reopened.wait_for_status() == 200
            reopened.stop.set()
            other.stop.set()


def test_a_slow_consumer_is_dropped(database_url: str) -> None:
    """A client that takes nothing: once the socket buffers are full the send times out and
    the server closes the stream (it does not buffer events for it)."""
    key = new_key_in(database_url, "editor", "slow")
    settings = {"CLAIMS_STREAM_SEND_TIMEOUT_SECONDS": "1", "CLAIMS_STREAM_HEARTBEAT_SECONDS": "0.2"}
    with running_server(database_url, api_key=key, env=settings) as server:
        host, port = server.base_url.removeprefix("http://").split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, int(port)))
        sock.sendall(
            f"GET {STREAM} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
        )
        try:
            with client(server) as api:
                for batch in range(6):
                    records = [
                        {
                            "external_id": f"slow-{batch}-{n}",
                            "statement": f"{n} " + "a long statement to fill the buffers " * 40,
                        }
                        for n in range(1000)
                    ]
                    response = api.post("/api/v1/imports", json=records)
                    assert response.status_code in (200, 201), response.text
                    if '"slow_consumer"' in server.log():
                        break
            line = wait_for_line(server, '"slow_consumer"')
            assert '"stream_closed"' in line
        finally:
            sock.close()


def test_an_open_stream_ends_at_shutdown_without_holding_it(database_url: str) -> None:
    key = new_key_in(database_url, "reader", "shutdown")
    settings = {"CLAIMS_SHUTDOWN_GRACE_SECONDS": "600"}
    with running_server(database_url, api_key=key, env=settings) as server:
        reader = StreamReader(server.base_url, server.headers).start()
        assert reader.wait_for_status() == 200
        os.kill(server.pid, signal.SIGTERM)
        assert reader.ended.wait(15), "the stream outlived the shutdown"
        wait_for_line(server, "shutdown_finished_in_time")
        assert '"reason":"shutdown"' in wait_for_line(server, '"stream_closed"')


@pytest.mark.parametrize(
    "timeout",
    [
        SendTimeoutError(),
        # The events and the heartbeat timing out at once: sse-starlette's task group raises both.
        BaseExceptionGroup("both sends", [SendTimeoutError(), SendTimeoutError()]),
    ],
    ids=["one send", "both sends at once"],
)
def test_a_send_timeout_ends_the_stream_as_a_slow_consumer(
    monkeypatch: pytest.MonkeyPatch, timeout: BaseException
) -> None:
    async def timed_out(*_: object) -> None:
        raise timeout

    async def nothing() -> AsyncIterator[ServerSentEvent]:
        return
        yield

    monkeypatch.setattr(EventSourceResponse, "__call__", timed_out)
    response = ChangeStreamResponse(nothing(), fields={"caller": "test"})
    with capture_logs() as events:
        asyncio.run(response({"type": "http"}, None, None))  # type: ignore[arg-type]
    assert [(e["event"], e["reason"]) for e in events] == [("stream_closed", "slow_consumer")]
