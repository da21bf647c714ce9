"""A scripted HTTP server on loopback, for the client's retry tests: it answers a script of
statuses and headers (or no answer at all) and records every request it received, so the client
under test talks to it over a real socket, its real transport and its retries included.

    with scripted_server() as server:
        server.script(Answer(503, {"Retry-After": "0.01"}), 429, 500, 200)
        with ClaimTrackerClient(server.base_url, backoff=0.001) as api:
            api.get("/claims")
        assert [request.method for request in server.requests] == ["GET"] * 4

Each answer closes its connection, so every attempt is a connection of its own. A connection
never made needs no server: ``tests.servers.free_port()`` is a port nothing listens on, and
``CountingTransport`` (the client's real transport) counts the attempts made on it.
"""

import socketserver
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson

HOST = "127.0.0.1"
# The longest a HANG holds a connection when the server is not stopped first.
HANG_LIMIT = 10.0
# A success's body: an empty page and a created resource's id, for any call of the client.
OK_BODY = {"items": [], "id": 1}


class Silence(Enum):
    """A step of a script that answers nothing (the request is read and recorded first)."""

    CLOSE = "close the connection without answering"  # the client: RemoteProtocolError
    HANG = "hold the connection, answering nothing"  # the client: ReadTimeout


@dataclass(frozen=True, slots=True)
class Answer:
    """A JSON answer: ``body``, or else ``OK_BODY`` for a success and a problem document for a
    4xx or 5xx."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    def content(self) -> tuple[str, bytes]:
        """Its Content-Type and bytes."""
        if self.body is not None or self.status < 400:
            return "application/json", orjson.dumps(OK_BODY if self.body is None else self.body)
        title = HTTPStatus(self.status).phrase
        problem = {"type": "about:blank", "title": title, "status": self.status}
        return "application/problem+json", orjson.dumps(problem)


Step = int | Answer | Silence


@dataclass(frozen=True, slots=True)
class Received:
    """A request as the server read it."""

    method: str
    path: str  # with its query string
    headers: httpx.Headers  # case-insensitive; a missing one raises KeyError
    body: bytes


class ScriptedServer(ThreadingHTTPServer):
    """Answers the steps of its script in turn, the last one from then on (200 until scripted).

    ``requests`` holds every request received, in order. Handler threads are joined when the
    server closes (a HANG is released first), and an error in one fails ``scripted_server``.
    """

    daemon_threads = False  # server_close() joins every handler thread

    def __init__(self) -> None:
        super().__init__((HOST, 0), _ScriptedHandler)
        self.requests: list[Received] = []
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._steps: tuple[Answer | Silence, ...] = (Answer(200),)
        self._position = 0

    def server_bind(self) -> None:
        """HTTPServer's, without its reverse DNS lookup of the host (``socket.getfqdn``)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, self.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"

    def script(self, *steps: Step, headers: Mapping[str, str] | None = None) -> None:
        """Answer the next requests with ``steps`` (a bare status has ``headers``)."""
        assert steps, "a script needs at least one step"
        scripted = tuple(
            Answer(step, dict(headers or {})) if isinstance(step, int) else step for step in steps
        )
        with self._lock:
            self._steps = scripted
            self._position = 0

    def methods(self) -> list[str]:
        return [request.method for request in self.requests]

    def receive(self, request: Received) -> Answer | Silence:
        """Record ``request``; the step that answers it."""
        with self._lock:
            self.requests.append(request)
            step = self._steps[min(self._position, len(self._steps) - 1)]
            self._position += 1
            return step

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.errors.append(sys.exc_info()[1] or RuntimeError("unknown handler error"))


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: ScriptedServer
    protocol_version = "HTTP/1.1"

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)  # all of it: closing with unread bytes would send RST
        headers = httpx.Headers(list(self.headers.items()))
        step = self.server.receive(Received(self.command, self.path, headers, body))
        self.close_connection = True
        if step is Silence.HANG:
            self.server.stopping.wait(HANG_LIMIT)
            return
        if step is Silence.CLOSE:
            return
        assert isinstance(step, Answer)
        content_type, content = step.content()
        self.send_response(step.status)
        for name, value in step.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: what was received is in ``server.requests``."""


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    """A ``ScriptedServer`` serving on an ephemeral loopback port until the block ends; then
    stopped, its socket closed and its threads joined, whatever happened in the block."""
    server = ScriptedServer()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="scripted-server"
    )
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        thread.join()
        server.server_close()
    assert not server.errors, f"the scripted server failed: {server.errors!r}"


class CountingTransport(httpx.HTTPTransport):
    """The client's real transport, counting the attempts it is asked to make (for a connection
    never made, where no server is there to count them)."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        return super().handle_request(request)


class AsyncCountingTransport(httpx.AsyncHTTPTransport):
    """``CountingTransport`` for the async client."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        return await super().handle_async_request(request)
