"""Start-up and shutdown of a real ``claimtracker serve``: a request in flight when SIGTERM
arrives completes and the server exits 0; past the grace period it is cancelled, and the log
says which; a schema newer than the code is refused at start-up.

The request is held in flight without timing: it is sent with ``Expect: 100-continue``, and the
server's ``100 Continue`` says the app is running it, waiting for the body; the body is sent
only once the log says the shutdown began.
"""

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.schema.migrate import upgrade
from tests.conftest import new_key_in
from tests.servers import HOST, ROOT, free_port, server_env

pytestmark = pytest.mark.slow

DEADLINE = 60.0


@dataclass
class Served:
    process: "subprocess.Popen[bytes]"
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines of the event ``name`` so far."""
        found = []
        for line in self.log().splitlines():
            if line.startswith("{") and json.loads(line).get("event") == name:
                found.append(json.loads(line))
        return found

    def wait_for_event(self, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE
        while not self.events(name):
            assert time.monotonic() < deadline, f"{name!r} never logged:\n{self.log()}"
            assert self.process.poll() is None or self.events(name), self.log()
            time.sleep(0.05)
        return self.events(name)[0]


@contextmanager
def serving(database_url: str, tmp_path: Path, **settings: str) -> Iterator[Served]:
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", HOST, "--port", str(port)],
            cwd=ROOT,
            env=server_env(
                database_url, {"CLAIMS_LOG_FORMAT": "json", "CLAIMS_LOG_LEVEL": "info", **settings}
            ),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(process, port, log_path)
    try:
        deadline = time.monotonic() + DEADLINE
        while True:
            assert process.poll() is None, f"serve exited early:\n{served.log()}"
            try:
                if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, served.log()
                time.sleep(0.05)
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=DEADLINE)


def start_post(port: int, key: str, body: bytes) -> socket.socket:
    """A POST of a claim whose headers are sent and whose body is awaited by the app."""
    sock = socket.create_connection((HOST, port), timeout=DEADLINE)
    sock.sendall(
        (
            f"POST /api/v1/claims HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Expect: 100-continue\r\n\r\n"
        ).encode()
    )
    interim = b""
    while not interim.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        assert chunk, "the server closed the connection before 100 Continue"
        interim += chunk
    assert interim.startswith(b"HTTP/1.1 100"), interim
    return sock


def read_all(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    upgrade(url)
    return url


class TestGracefulShutdown:
    def test_a_request_in_flight_completes_and_the_server_exits_0(
        self, database_url: str, tmp_path: Path
    ) -> None:
        key = new_key_in(database_url)
        body = json.dumps({"statement": "Said while the server stopped.", "language": "en"})
        with serving(database_url, tmp_path, CLAIMS_SHUTDOWN_GRACE_SECONDS="30") as served:
            with closing(start_post(served.port, key, body.encode())) as sock:
                served.process.send_signal(signal.SIGTERM)
                began = served.wait_for_event("shutdown_began")
                assert (began["signal"], began["in_flight"], began["grace_seconds"]) == (
                    "SIGTERM",
                    1,
                    30,
                )
                sock.sendall(body.encode())
                response = read_all(sock)
            assert served.process.wait(timeout=DEADLINE) == 0, served.log()
        assert response.startswith(b"HTTP/1.1 201"), response
        [finished] = served.events("shutdown_finished_in_time")
        assert (finished["requests_cancelled"], finished["level"]) == (0, "info")
        assert finished["requests_finished"] >= 1
        assert "Traceback" not in served.log()
        engine = create_engine(database_url)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT statement FROM claim")).scalars().all()
        engine.dispose()
        assert stored == ["Said while the server stopped."]

    def test_past_the_grace_period_the_request_is_cancelled_and_the_log_says_so(
        self, database_url: str, tmp_path: Path
    ) -> None:
        key = new_key_in(database_url)
        with (
            serving(database_url, tmp_path, CLAIMS_SHUTDOWN_GRACE_SECONDS="1") as served,
            closing(start_post(served.port, key, b"{}")) as sock,
        ):
            served.process.send_signal(signal.SIGTERM)  # and the body never comes
            assert served.process.wait(timeout=DEADLINE) == 0, served.log()
            response = read_all(sock)
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), response
        assert b"retry-after: 1" in head.lower()
        assert json.loads(body)["type"] == "urn:claimtracker:problem:shutting-down"
        [ran_out] = served.events("shutdown_grace_period_ran_out")
        assert (ran_out["requests_cancelled"], ran_out["grace_seconds"]) == (1, 1)
        assert ran_out["level"] == "warning"
        assert "Traceback" not in served.log()


class TestStartUp:
    def test_a_schema_ahead_of_the_code_is_refused_in_one_line(
        self, database_url: str, tmp_path: Path
    ) -> None:
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedcafe'"))
        engine.dispose()
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(free_port())],
            cwd=ROOT,
            env=server_env(database_url),
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        assert done.returncode == 1, done.stderr
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("refusing to serve: the database schema is at migration")
        assert "f00dfeedcafe" in done.stderr
