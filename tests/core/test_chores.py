"""``Chore``: the lifespan's background loop. A tick that raises is logged and the next tick
runs; ``stop`` ends the task."""

import asyncio

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
