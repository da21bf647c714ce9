"""A server process's background chore: one asyncio task, started in the lifespan and
cancelled at its end (the transparency log's appender, the similar-claims matcher): ``tick``
every ``interval`` seconds; a failed tick is logged and the next one tries again."""

import asyncio
import contextlib
from typing import Any


class Chore:
    """``tick`` every ``interval`` seconds, as the task named ``name``, between ``start`` and
    ``stop``. A tick that raises is logged as ``failed_event`` on ``log``."""

    name = "chore"
    failed_event = "chore_failed"

    def __init__(self, interval: float, log: Any) -> None:  # a logger of app.core.logs
        self.interval = interval
        self.log = log
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def tick(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # the database may be down: try again next tick
                self.log.warning(self.failed_event, error=type(exc).__name__, detail=str(exc))
            await asyncio.sleep(self.interval)
