"""A server process's background chore: one asyncio task, started in the lifespan and
cancelled at its end (the transparency log's appender, the similar-claims matcher)."""

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class Chore:
    """``_run`` as the task named ``name`` between ``start`` and ``stop``."""

    name = "chore"

    def __init__(self) -> None:
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

    def _run(self) -> Coroutine[Any, Any, None]:
        raise NotImplementedError
