"""A Server-Sent Events reader for the change-stream tests: real HTTP, lines parsed by hand
(the framing is simple; the server side is sse-starlette's)."""

import json
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

STREAM = "/api/v1/changes/stream"


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    event: str
    data: dict[str, Any]


@dataclass
class StreamReader:
    """Reads one stream in a thread: events and comment lines, until stopped or closed."""

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    events: "queue.Queue[Event]" = field(default_factory=queue.Queue)
    comments: list[str] = field(default_factory=list)
    status: int | None = None
    ended: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def start(self) -> "StreamReader":
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            with httpx.stream(
                "GET",
                self.base_url + STREAM,
                headers=dict(self.headers),
                params=dict(self.params),
                timeout=httpx.Timeout(30.0, read=30.0),
            ) as response:
                self.status = response.status_code
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if self.stop.is_set():
                        return
                    if line.startswith(":"):
                        self.comments.append(line[1:].strip())
                    elif not line:
                        if "id" in fields:
                            self.events.put(
                                Event(
                                    int(fields["id"]), fields["event"], json.loads(fields["data"])
                                )
                            )
                        fields = {}
                    else:
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
        except (httpx.TransportError, httpx.StreamError) as exc:
            self.error = exc
        finally:
            self.ended.set()

    def take(self, n: int, timeout: float = 30.0) -> list[Event]:
        """The next ``n`` events (fails when they do not come)."""
        deadline = time.monotonic() + timeout
        taken: list[Event] = []
        while len(taken) < n:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"only {len(taken)} of {n} events came"
            try:
                taken.append(self.events.get(timeout=remaining))
            except queue.Empty:
                continue
        return taken

    def take_while(self, keep_going: Callable[[list[Event]], bool], timeout: float) -> list[Event]:
        deadline = time.monotonic() + timeout
        taken: list[Event] = []
        while keep_going(taken) and time.monotonic() < deadline:
            try:
                taken.append(self.events.get(timeout=0.1))
            except queue.Empty:
                continue
        return taken

    def wait_for_status(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while self.status is None and not self.ended.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.status is not None, f"no answer: {self.error!r}"
        return self.status
