"""``CountRequests`` and ``RequestCounts.busy``, which the similar-claims matcher asks before
it takes a turn: a process is busy while it serves a request, and for a while after it served
two at once; an open event stream is a listener, not load."""

import asyncio
import time
from dataclasses import dataclass

from starlette.types import Message, Receive, Scope, Send

from app.web.lifecycle import CountRequests, RequestCounts

JSON = [(b"content-type", b"application/json")]
STREAM = [(b"content-type", b"text/event-stream; charset=utf-8")]


class HeldApp:
    """Answers each request with the content type its path names, its body only once the test
    releases it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = STREAM if scope["path"] == "/stream" else JSON
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        self.started.set()
        await self.release.wait()
        await send({"type": "http.response.body", "body": b"{}"})


async def request(middleware: CountRequests, path: str) -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    await middleware(scope, receive, send)


@dataclass
class Served:
    counts: RequestCounts
    busy_while_held: bool = False
    listening_while_held: int = 0


def serve(paths: list[str]) -> Served:
    """Serves ``paths`` at once, looks at the counts while all are held, then lets them end."""
    counts = RequestCounts()
    served = Served(counts)

    async def main() -> None:
        app = HeldApp()
        middleware = CountRequests(app, counts)
        tasks = [asyncio.create_task(request(middleware, path)) for path in paths]
        while counts.in_flight < len(paths) or not app.started.is_set():
            await asyncio.sleep(0)
        await asyncio.sleep(0)  # every response has started
        served.busy_while_held = counts.busy(within=0.5)
        served.listening_while_held = counts.listening
        app.release.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    return served


def test_a_request_being_served_makes_the_process_busy() -> None:
    served = serve(["/claims"])
    assert served.busy_while_held
    counts = served.counts
    assert counts.in_flight == 0
    assert counts.finished == 1
    assert not counts.busy(within=0.5)  # one at a time: idle as soon as it is answered


def test_two_at_once_keep_the_process_busy_for_a_while_after_they_end() -> None:
    counts = serve(["/claims", "/claims"]).counts
    assert counts.in_flight == 0
    assert counts.busy(within=60)
    assert not counts.busy(within=0)
    assert time.monotonic() - counts.crowded_at < 60


def test_an_open_event_stream_is_not_load() -> None:
    served = serve(["/stream"])
    assert served.listening_while_held == 1
    assert not served.busy_while_held
    counts = served.counts
    assert counts.listening == 0
    assert counts.finished == 1


def test_a_request_beside_an_open_stream_is_served_alone() -> None:
    served = serve(["/stream", "/claims"])
    assert served.busy_while_held  # the /claims request
    assert not served.counts.busy(within=60)  # but it was never beside another request
