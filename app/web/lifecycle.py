"""What the log says about a graceful shutdown: when it began, and whether the requests in
flight finished within the grace period (CLAIMS_SHUTDOWN_GRACE_SECONDS) or were cancelled.

uvicorn does the shutdown itself: on SIGTERM it stops accepting connections, waits up to the
grace period for running requests, cancels what is left, then runs the lifespan's shutdown
(where ``Database.close`` lets the SQLite group writer finish its queue). This module counts
the requests and adds the log lines.
"""

import asyncio
import json
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logs import get_logger

log = get_logger("app.lifecycle")

SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


EVENT_STREAM = b"text/event-stream"


@dataclass
class RequestCounts:
    in_flight: int = 0
    finished: int = 0
    cancelled: int = 0
    # Event streams being answered: a newsroom frontend holds one open for hours; it is a
    # listener, not load.
    listening: int = 0
    # When a request last began while another (not a stream) was being served.
    crowded_at: float = -math.inf

    def busy(self, *, besides: int = 0, within: float = 1.0) -> bool:
        """More than ``besides`` requests served now, or two served at once in the last
        ``within`` seconds. A glance at ``in_flight`` alone misleads under load: the answers of
        a group commit go out together, and the last of them sees the process empty for the
        moment before the clients send their next requests."""
        serving = self.in_flight - self.listening
        return serving > besides or time.monotonic() - self.crowded_at < within


class CountRequests:
    """A pure ASGI middleware counting HTTP requests: running, finished, cancelled. A request
    cancelled by the end of the grace period before its answer began gets a 503 problem with
    Retry-After (the client may retry elsewhere) instead of uvicorn's bare 500."""

    def __init__(self, app: ASGIApp, counts: RequestCounts) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counts = self.counts
        answered = listening = False

        async def noting_send(message: Message) -> None:
            nonlocal answered, listening
            if message["type"] == "http.response.start":
                answered = True
                for name, value in message.get("headers", ()):
                    if name == b"content-type" and value.startswith(EVENT_STREAM):
                        listening = True
                        counts.listening += 1
            await send(message)

        if counts.in_flight > counts.listening:
            counts.crowded_at = time.monotonic()
        counts.in_flight += 1
        try:
            await self.app(scope, receive, noting_send)
        except asyncio.CancelledError:  # uvicorn's grace period ran out
            counts.cancelled += 1
            if answered:
                raise
            # The cancellation ends here: this task only has the answer left to send.
            await _send_shutting_down(scope, send)
        else:
            counts.finished += 1
        finally:
            counts.in_flight -= 1
            if listening:
                counts.listening -= 1


async def _send_shutting_down(scope: Scope, send: Send) -> None:
    problem: dict[str, Any] = {
        "type": "urn:claimtracker:problem:shutting-down",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "The server is shutting down and cancelled this request before answering "
        "it. A write may or may not have been stored: read before retrying it.",
        "instance": scope["path"],
    }
    request_id = scope.get("state", {}).get("request_id")
    if request_id:
        problem["request_id"] = request_id
    body = json.dumps(problem).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ShutdownLog:
    """Logs the start of a shutdown from the signal (chained before uvicorn's own handler) and
    its end from the lifespan."""

    def __init__(
        self,
        counts: RequestCounts,
        grace_seconds: int,
        *,
        on_begin: Callable[[], None] | None = None,
    ) -> None:
        self._counts = counts
        self._grace_seconds = grace_seconds
        self._began = False
        # What must end before uvicorn waits for the requests in flight: the change streams,
        # which would otherwise hold the shutdown for the whole grace period.
        self._on_begin = on_begin

    def watch_signals(self) -> None:
        """Chain onto the handlers uvicorn installed for this process (they are in place
        when the lifespan starts). Only the main thread may set handlers: a server run any
        other way (tests in a thread) logs only the end."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in SHUTDOWN_SIGNALS:
            previous = signal.getsignal(sig)

            def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
                # A signal handler logs nothing itself (it may interrupt a log call): the loop does.
                loop.call_soon_threadsafe(self.began, signum)
                if callable(previous):
                    previous(signum, frame)

            signal.signal(sig, handler)

    def began(self, signum: int) -> None:
        if self._began:
            return
        self._began = True
        log.info(
            "shutdown_began",
            signal=signal.Signals(signum).name,
            in_flight=self._counts.in_flight,
            grace_seconds=self._grace_seconds,
        )
        if self._on_begin is not None:
            self._on_begin()

    def finished(self) -> None:
        counts = self._counts
        fields = {
            "requests_finished": counts.finished,
            "requests_cancelled": counts.cancelled,
            "grace_seconds": self._grace_seconds,
        }
        if counts.cancelled:
            log.warning("shutdown_grace_period_ran_out", **fields)
        else:
            log.info("shutdown_finished_in_time", **fields)
