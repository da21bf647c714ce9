"""One delivery attempt over HTTP: Standard Webhooks headers and signatures, the SSRF guard.

The request goes to the address ``app.webhooks.targets`` checked (the URL's host stays in the
Host header and, for https, in the TLS server name and certificate check), never through a
proxy from the environment, with a timeout on every phase, without following redirects (a 3xx
is a failed attempt), and reads at most ``MAX_RESPONSE_BYTES`` of the answer.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from app.webhooks.models import AttemptOutcome
from app.webhooks.targets import TargetRefused, resolve_target

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "claimtracker-webhooks/1"


@dataclass(frozen=True, slots=True)
class Sent:
    outcome: AttemptOutcome
    response_status: int | None
    duration_ms: float
    error: str | None


def make_client(timeout_seconds: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds),
        follow_redirects=False,
        trust_env=False,  # no HTTP(S)_PROXY: a proxy would reach what the guard refused
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


def signature(secrets: tuple[str, ...], msg_id: str, timestamp: datetime, body: str) -> str:
    """``v1,<base64>`` per secret, space-separated (several during a rotation's grace)."""
    return " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body) for secret in secrets
    )


async def send(
    client: httpx.AsyncClient,
    url: str,
    *,
    msg_id: str,
    body: str,
    secrets: tuple[str, ...],
    allow_private: bool,
) -> Sent:
    started = time.perf_counter()

    def elapsed() -> float:
        return (time.perf_counter() - started) * 1000

    try:
        target = await resolve_target(url, allow_private=allow_private)
    except TargetRefused as exc:
        return Sent(AttemptOutcome.refused, None, elapsed(), exc.detail)
    timestamp = datetime.now(UTC)
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature(secrets, msg_id, timestamp, body),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    request = client.build_request(
        "POST", target.pinned_url, content=body.encode(), headers=headers, extensions=extensions
    )
    try:
        response = await client.send(request, stream=True)
        try:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= MAX_RESPONSE_BYTES:
                    break
        finally:
            await response.aclose()
    except httpx.TimeoutException as exc:
        return Sent(AttemptOutcome.timeout, None, elapsed(), f"timeout: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return Sent(AttemptOutcome.network_error, None, elapsed(), f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return Sent(AttemptOutcome.delivered, response.status_code, elapsed(), None)
    return Sent(
        AttemptOutcome.http_error,
        response.status_code,
        elapsed(),
        f"answered {response.status_code}",
    )
