"""The client's retry policy, carried out by httpx-retries' ``RetryTransport`` under both clients
(every call goes through it, ``export()``'s stream included).

What is retried, up to ``max_retries`` times after the first attempt:

- 429 Too Many Requests, for any call: the server refused it before doing anything.
- A connection never made (``ConnectError``, ``ConnectTimeout``), for any call: it never reached
  the server.
- 500, 502, 503, 504 and every other transport error (timeouts, dropped connections) only for a
  call safe to send twice: GET, HEAD, PUT, DELETE, or a POST carrying an ``Idempotency-Key``
  (imports always do).

Before retry *n* the client waits the server's ``Retry-After`` (seconds or an HTTP date), up to
six times ``max_backoff``; without one, a random wait between half and all of
``min(max_backoff, backoff * 2**(n - 1))``. When retries run out, the last answer is the result
(a 4xx or 5xx raises its ``ProblemError``) and the last transport error raises ``ClientError``.

httpx-retries decides from ``request.extensions["retry"]``, so each call carries the policy that
fits it (``Policies.for_call``); a request sent straight through ``client.http`` gets the
transport's default, which retries the idempotent methods only.
"""

import random
from dataclasses import dataclass
from http import HTTPMethod
from typing import Any

import httpx
from httpx_retries import Retry

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# How many times max_backoff a server's Retry-After is honoured up to.
RETRY_AFTER_TIMES = 6
# A connection never made: the request never reached the server, whatever its method.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


class ClientRetry(Retry):
    """httpx-retries' ``Retry`` with the client's waits: ``max_backoff_wait`` caps a server's
    ``Retry-After``; the backoff's own cap is ``max_backoff_wait / RETRY_AFTER_TIMES``, and its
    jitter spans the upper half (httpx-retries' one cap serves both, and its jitter is applied
    before the cap)."""

    def backoff_strategy(self) -> float:
        cap = self.max_backoff_wait / RETRY_AFTER_TIMES
        ceiling = min(cap, self.backoff_factor * 2 ** (self.attempts_made - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

    def parse_retry_after(self, retry_after: str) -> float:
        """Seconds, fractions too (httpx-retries reads whole seconds and HTTP dates)."""
        try:
            return float(retry_after)
        except ValueError:
            return super().parse_retry_after(retry_after)


@dataclass(frozen=True, slots=True)
class Policies:
    """The transport's default and the two policies a call may carry."""

    default: Retry  # idempotent methods only: requests sent straight through ``client.http``
    safe: Retry  # any method: the call may be sent twice
    unsafe: Retry  # any method, but only what never reached the server, and 429

    @classmethod
    def make(cls, *, max_retries: int, backoff: float, max_backoff: float) -> "Policies":
        default = ClientRetry(
            total=max_retries,
            allowed_methods=IDEMPOTENT_METHODS,
            status_forcelist=RETRY_STATUSES,
            retry_on_exceptions=[httpx.TransportError],
            backoff_factor=backoff,
            max_backoff_wait=max_backoff * RETRY_AFTER_TIMES,
        )
        every_method = list(HTTPMethod)
        return cls(
            default=default,
            safe=default.copy_with(allowed_methods=every_method),
            unsafe=default.copy_with(
                allowed_methods=every_method,
                status_forcelist=[429],
                retry_on_exceptions=NEVER_SENT,
            ),
        )

    def for_call(self, method: str, headers: dict[str, Any]) -> Retry:
        if method in IDEMPOTENT_METHODS or "Idempotency-Key" in headers:
            return self.safe
        return self.unsafe
