"""A server process's background chore: one asyncio task, started in the lifespan and stopped at
its end (the transparency log's appender, the similar-claims matcher): ``tick`` every
``interval`` seconds; a failed tick is logged and the next one tries again.

``stop`` lets the tick in flight finish rather than cancel it: a tick waits on a worker thread
(a database read or write), and cancelling the task does not stop that thread. The abandoned
thread would go on with its pooled connection after the lifespan had disposed of the engine,
hand it back to the discarded pool, and leave it open until the garbage collector found it (a
psycopg ResourceWarning at the end of tests/core/test_unavailable.py, now and then). A tick
that loops (turn after turn, batch after batch) asks ``stopping`` between its rounds."""

import asyncio
import contextlib
from typing import Any

# A tick still running after this is cancelled after all: the webhook dispatcher's grace too,
# so the lifespan's shutdown (they stop together) stays within the orchestrator's stop timeout
# (docs/operations.md, "Shutdown").
STOP_GRACE_SECONDS = 5.0


class Chore:
    """``tick`` every ``interval`` seconds, as the task named ``name``, between ``start`` and
    ``stop``. A tick that raises is logged as ``failed_event`` on ``log``."""

    name = "chore"
    failed_event = "chore_failed"

    def __init__(self, interval: float, log: Any) -> None:  # a logger of app.core.logs
        self.interval = interval
        self.log = log
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    @property
    def stopping(self) -> bool:
        """Whether ``stop`` was called: a tick that loops ends its round and returns."""
        return self._stop.is_set()

    async def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """End the loop once the tick in flight is done (cancelled, and logged as
        ``chore_cancelled``, if it takes longer than ``grace_seconds``)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        done, _ = await asyncio.wait({task}, timeout=grace_seconds)
        if not done:
            self.log.warning("chore_cancelled", chore=self.name, grace_seconds=grace_seconds)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def tick(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.tick()
            except Exception as exc:  # the database may be down: try again next tick
                self.log.warning(self.failed_event, error=type(exc).__name__, detail=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
