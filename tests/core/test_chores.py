"""``Chore``: the lifespan's background loop. A tick that raises is logged and the next tick
runs; ``stop`` lets the tick in flight finish (its worker thread included), and cancels one that
outlives the grace."""

import asyncio
import threading
import time

from anyio import to_thread
from structlog.testing import capture_logs

from app.core.chores import Chore
from app.core.logs import get_logger


class Flaky(Chore):
    name = "flaky"
    failed_event = "flaky_failed"

    def __init__(self) -> None:
        super().__init__(0.001, get_logger("tests.chores"))
        self.ticks = 0
        self.done = asyncio.Event()

    async def tick(self) -> None:
        self.ticks += 1
        if self.ticks == 1:
            raise ConnectionError("the database is down")
        if self.ticks == 3:
            self.done.set()


def test_a_failed_tick_is_logged_and_the_next_one_runs() -> None:
    async def main() -> int:
        chore = Flaky()
        chore.start()
        await asyncio.wait_for(chore.done.wait(), timeout=30)
        await chore.stop()
        assert chore._task is None
        return chore.ticks

    with capture_logs() as logs:
        ticks = asyncio.run(main())
    assert ticks >= 3
    failures = [entry for entry in logs if entry["event"] == "flaky_failed"]
    assert failures == [
        {
            "event": "flaky_failed",
            "log_level": "warning",
            "error": "ConnectionError",
            "detail": "the database is down",
            "logger_name": "tests.chores",
        }
    ]


class InThread(Chore):
    """A tick that waits on a worker thread, as a database read does."""

    name = "in-thread"

    def __init__(self, seconds: float) -> None:
        super().__init__(0.001, get_logger("tests.chores"))
        self.seconds = seconds
        self.started = asyncio.Event()
        self.thread_done = threading.Event()

    def work(self) -> None:
        time.sleep(self.seconds)
        self.thread_done.set()

    async def tick(self) -> None:
        self.started.set()
        await to_thread.run_sync(self.work)


def test_stop_waits_for_the_ticks_thread_to_finish() -> None:
    async def main() -> bool:
        chore = InThread(0.3)
        chore.start()
        await asyncio.wait_for(chore.started.wait(), timeout=30)
        await chore.stop()
        # Cancelling the task would have returned at once, the thread still at work with
        # whatever it holds (a pooled connection, after the engine's disposal).
        return chore.thread_done.is_set()

    assert asyncio.run(main())


def test_stop_cancels_a_tick_that_outlives_the_grace() -> None:
    class Stuck(Chore):
        name = "stuck"

        def __init__(self) -> None:
            super().__init__(0.001, get_logger("tests.chores"))
            self.started = asyncio.Event()

        async def tick(self) -> None:
            self.started.set()
            await asyncio.sleep(3600)

    async def main() -> float:
        chore = Stuck()
        chore.start()
        await asyncio.wait_for(chore.started.wait(), timeout=30)
        began = time.monotonic()
        await chore.stop(grace_seconds=0.05)
        return time.monotonic() - began

    with capture_logs() as logs:
        waited = asyncio.run(main())
    assert waited < 1800  # not the tick's hour: it was cancelled
    assert [(entry["event"], entry["chore"]) for entry in logs] == [("chore_cancelled", "stuck")]
