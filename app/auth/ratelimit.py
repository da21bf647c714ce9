"""Rate limits, counted by the ``limits`` library in fixed one-minute windows (docs/security.md).

- Per key: ``rate_limit_per_minute`` requests, whatever the client address.
- Per client address, for requests without a key (public reads, and the 401s of routes that
  need one): the same number.
- Per client address, failed authentications (a malformed, unknown, revoked or wrong key):
  ``rate_limit_failed_auth_per_minute``. Once an address has used them up, every request from it
  that reaches authentication answers 429, a correct key included, until its window ends.

A window starts at the first request it counts and lasts 60 s; a request over the limit
answers 429 with ``Retry-After``, the seconds until the window ends. Fixed windows cost one
counter per caller (a moving window keeps one entry per request); the price is that a caller
may send up to twice the limit across the end of one window and the start of the next.

The counts live in this process's memory: with several processes (workers, containers) each
counts on its own, so the real limit is N times the setting. Only ``memory://`` is accepted:
a shared store would be a network call on the event loop of every request, and is not tested.
"""

import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.core import errors
from app.core.logs import get_logger
from app.core.settings import Settings

log = get_logger("app.auth")
_LOCKED_OUT = "Too many failed authentications from this address"
_TOO_MANY = "Too many requests"


class RateLimits:
    def __init__(
        self, per_minute: int, failed_auth_per_minute: int, store: str = "memory://"
    ) -> None:
        self.limits_requests = per_minute > 0
        self.limits_failures = failed_auth_per_minute > 0
        self._requests = RateLimitItemPerMinute(per_minute, namespace="request")
        self._failures = RateLimitItemPerMinute(failed_auth_per_minute, namespace="failed-auth")
        # The storage starts a timer thread: none at all while limiting is off.
        off = not (self.limits_requests or self.limits_failures)
        self._limiter = None if off else FixedWindowRateLimiter(storage_from_string(store))

    def refuse_locked_out(self, address: str) -> None:
        """429 if ``address`` has used up its failed authentications in this window."""
        if self.limits_failures and not self._test(self._failures, address):
            raise self._too_many(self._failures, (address,), _LOCKED_OUT)

    def count_failure(self, address: str) -> None:
        """Count one failed authentication of ``address``; 429 if that was over the limit."""
        if self.limits_failures and not self._hit(self._failures, address):
            raise self._too_many(self._failures, (address,), _LOCKED_OUT)

    def count_key(self, key_id: int) -> None:
        """Count one request made with the key ``key_id``; 429 over the limit."""
        if self.limits_requests and not self._hit(self._requests, "key", str(key_id)):
            raise self._too_many(self._requests, ("key", str(key_id)), _TOO_MANY)

    def count_address(self, address: str) -> None:
        """Count one request without a key from ``address``; 429 over the limit."""
        if self.limits_requests and not self._hit(self._requests, "address", address):
            raise self._too_many(self._requests, ("address", address), _TOO_MANY)

    def _hit(self, item: RateLimitItem, *identity: str) -> bool:
        assert self._limiter is not None
        return self._limiter.hit(item, *identity)

    def _test(self, item: RateLimitItem, *identity: str) -> bool:
        assert self._limiter is not None
        return self._limiter.test(item, *identity)

    def _too_many(
        self, item: RateLimitItem, identity: tuple[str, ...], what: str
    ) -> errors.TooManyRequests:
        assert self._limiter is not None
        reset_at = self._limiter.get_window_stats(item, *identity).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        # Who: a key's id, or the client address (the limit's own identity, never a secret).
        log.warning(
            "rate_limited",
            limit=item.namespace,
            per_minute=item.amount,
            counted_by=identity[0] if len(identity) > 1 else "address",
            caller=identity[-1],
            retry_after=retry_after,
        )
        return errors.TooManyRequests(
            f"{what}; try again in {retry_after} s.", retry_after=retry_after
        )


def make_rate_limits(settings: Settings) -> RateLimits:
    return RateLimits(
        settings.rate_limit_per_minute,
        settings.rate_limit_failed_auth_per_minute,
        settings.rate_limit_store,
    )
