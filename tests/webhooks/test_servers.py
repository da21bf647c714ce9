"""Real server processes: the dispatcher that runs in every server process resumes after a
SIGKILL, and two workers deliver each event exactly once, in revision order."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import new_key_in
from tests.servers import Server, running_server, server_env
from tests.webhooks.receiver import Receiver, running_receiver

pytestmark = pytest.mark.slow

SETTINGS = {
    "CLAIMS_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "CLAIMS_WEBHOOK_POLL_SECONDS": "0.1",
    "CLAIMS_WEBHOOK_RETRY_SCHEDULE_SECONDS": "[0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]",
    "CLAIMS_WEBHOOK_LEASE_SECONDS": "3",
    "CLAIMS_WEBHOOK_TIMEOUT_SECONDS": "2",
    "CLAIMS_REQUIRE_IF_MATCH": "false",
}
DEADLINE = 60.0


def wait_for(condition: Callable[[], bool], what: str, server: Server | None = None) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"{what}\n{server.log() if server else ''}"
        time.sleep(0.05)


def create_endpoint(server: Server, receiver: Receiver) -> None:
    response = httpx.post(
        f"{server.base_url}/api/v1/webhooks",
        json={"url": receiver.url, "events": ["claim.*"]},
        headers=server.headers,
    )
    assert response.status_code == 201, response.text


def write_claims(server: Server, count: int) -> list[int]:
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=30) as client:
        ids = []
        for n in range(count):
            response = client.post("/api/v1/claims", json={"statement": f"Claim {n}."})
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        return ids


def feed_order(server: Server) -> list[int]:
    response = httpx.get(
        f"{server.base_url}/api/v1/changes", params={"limit": 200}, headers=server.headers
    )
    return [item["id"] for item in response.json()["items"]]


def delivered_revisions(receiver: Receiver, statuses: list[int]) -> list[int]:
    """The revision ids of the requests that were answered 2xx, in arrival order."""
    with receiver.lock:
        received = list(receiver.received)
    return [
        json.loads(item.body)["data"]["id"]
        for item, status in zip(received, statuses, strict=False)
        if 200 <= status < 300
    ]


class Gate:
    """Makes the receiver answer 503 until ``healthy``, then 200; remembers each answer."""

    def __init__(self, receiver: Receiver, *, healthy: bool) -> None:
        self.healthy = healthy
        self.statuses: list[int] = []
        receiver.answer = self.answer

    def answer(self, _n: int) -> int:
        self.statuses.append(200 if self.healthy else 503)
        return self.statuses[-1]


def test_a_killed_server_s_pending_deliveries_go_out_after_a_restart(
    migrated_database_url: str,
) -> None:
    key = new_key_in(migrated_database_url)
    with running_receiver() as receiver:
        gate = Gate(receiver, healthy=False)
        with running_server(migrated_database_url, env=SETTINGS, api_key=key) as server:
            create_endpoint(server, receiver)
            write_claims(server, 5)
            order = feed_order(server)
            wait_for(lambda: len(receiver.received) >= 2, "no attempt reached the receiver", server)
            os.killpg(server.pid, signal.SIGKILL)  # mid-retry, a lease perhaps held
            os.waitpid(server.pid, 0)
        assert delivered_revisions(receiver, gate.statuses) == []
        gate.healthy = True
        with running_server(migrated_database_url, env=SETTINGS, api_key=key) as server:
            wait_for(
                lambda: len(set(delivered_revisions(receiver, gate.statuses))) == 5,
                "the pending deliveries were not sent after the restart",
                server,
            )
            time.sleep(0.5)  # nothing more should come
    assert delivered_revisions(receiver, gate.statuses) == order


def test_two_workers_deliver_each_event_exactly_once_in_revision_order(
    migrated_database_url: str,
) -> None:
    key = new_key_in(migrated_database_url)
    with running_receiver() as receiver:
        gate = Gate(receiver, healthy=True)
        with running_server(
            migrated_database_url, workers=2, env=SETTINGS, api_key=key, via_cli=True
        ) as server:
            create_endpoint(server, receiver)
            write_claims(server, 40)
            order = feed_order(server)
            wait_for(lambda: len(receiver.received) >= 40, "not every event arrived", server)
            time.sleep(1.0)  # a duplicate would arrive meanwhile
    delivered = delivered_revisions(receiver, gate.statuses)
    assert delivered == order  # each exactly once, in the feed's order


def test_claimtracker_webhooks_dispatch_sends_and_stops_on_sigterm(
    migrated_database_url: str,
) -> None:
    key = new_key_in(migrated_database_url)
    off = {**SETTINGS, "CLAIMS_WEBHOOK_DISPATCH": "false"}
    with (
        running_receiver() as receiver,
        running_server(migrated_database_url, env=off, api_key=key) as server,
    ):
        create_endpoint(server, receiver)
        write_claims(server, 2)
        time.sleep(0.5)
        assert receiver.received == []  # the server's own dispatcher is off
        env = server_env(migrated_database_url, off)
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "webhooks", "dispatch"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(lambda: len(receiver.received) == 2, "the dispatch command sent nothing")
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()
    assert b"webhook_dispatcher_stopped" in stderr
