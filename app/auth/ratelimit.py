"""Rate limiting: a fixed one-minute window per caller, counted in this process.

Good for one process. With several processes (workers, containers) each counts on its own, so
the real limit is N times the setting: put the limit in Redis or the load balancer instead
(the store is a setting, so a shared one can be added without touching the routes).
"""

import math
import threading
import time
from typing import Protocol

from app.settings import Settings

WINDOW_SECONDS = 60.0


def now() -> float:
    """Wall-clock seconds (windows are aligned to the minute); a test may freeze it."""
    return time.time()


class RateLimiter(Protocol):
    def hit(self, identity: str) -> int | None:
        """Count one request; None if allowed, else the seconds until the caller may retry."""


class NoLimit:
    def hit(self, identity: str) -> int | None:
        return None


class MemoryFixedWindow:
    def __init__(self, per_window: int, window: float = WINDOW_SECONDS) -> None:
        self.per_window = per_window
        self.window = window
        self._counts: dict[str, tuple[int, int]] = {}  # identity -> (window number, count)
        self._lock = threading.Lock()

    def hit(self, identity: str) -> int | None:
        moment = now()
        current = int(moment // self.window)
        with self._lock:
            window, count = self._counts.get(identity, (current, 0))
            if window != current:
                window, count = current, 0
                if len(self._counts) > 100_000:  # drop callers of past windows
                    self._counts = {k: v for k, v in self._counts.items() if v[0] == current}
            if count >= self.per_window:
                return max(1, math.ceil((current + 1) * self.window - moment))
            self._counts[identity] = (window, count + 1)
            return None


def make_rate_limiter(settings: Settings) -> RateLimiter:
    if settings.rate_limit_per_minute == 0:
        return NoLimit()
    if settings.rate_limit_store == "memory":
        return MemoryFixedWindow(settings.rate_limit_per_minute)
    raise ValueError(f"unknown CLAIMS_RATE_LIMIT_STORE {settings.rate_limit_store!r}")
