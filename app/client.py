"""A typed, synchronous httpx client for the claim tracker API (the CLI and scripts use it).

    with ClaimTrackerClient("http://127.0.0.1:8000", token="ct_...") as api:
        claim = api.get_claim(7)                    # remembers the ETag it read
        api.update_claim(7, {"place": "Moscow"})    # sends it as If-Match
        for claim in api.iter_claims(status="false"):
            ...

Retries connection errors, 429 (honouring ``Retry-After``) and 5xx with exponential backoff
and jitter. Writes that are not idempotent by themselves (POST) are retried only when they carry
an ``Idempotency-Key`` (imports always do) or failed before reaching the server.
problem+json answers become ``ProblemError`` subclasses.
"""

import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import httpx
import orjson

API = "/api/v1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ClientError(Exception):
    """A request that could not be completed (the server never answered, retries ran out)."""


class ProblemError(ClientError):
    """An RFC 9457 problem document the server answered with."""

    def __init__(self, status: int, body: dict[str, Any], response: httpx.Response) -> None:
        self.status = status
        self.type = str(body.get("type", "about:blank"))
        self.title = str(body.get("title", ""))
        self.detail = body.get("detail")
        self.errors: list[dict[str, Any]] = list(body.get("errors") or [])
        self.body = body
        self.response = response
        super().__init__(f"{status} {self.title}: {self.detail or ''}".strip())


class BadRequest(ProblemError):
    pass


class Unauthorized(ProblemError):
    pass


class Forbidden(ProblemError):
    pass


class NotFound(ProblemError):
    pass


class Conflict(ProblemError):
    pass


class Gone(ProblemError):
    pass


class PreconditionFailed(ProblemError):
    pass


class PayloadTooLarge(ProblemError):
    pass


class ValidationProblem(ProblemError):
    pass


class PreconditionRequired(ProblemError):
    pass


class TooManyRequests(ProblemError):
    pass


class ServerError(ProblemError):
    pass


_BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    422: ValidationProblem,
    428: PreconditionRequired,
    429: TooManyRequests,
}


def problem_from(response: httpx.Response) -> ProblemError:
    try:
        body = response.json()
    except ValueError:
        body = {"title": response.reason_phrase, "detail": response.text[:500]}
    if not isinstance(body, dict):
        body = {"title": response.reason_phrase}
    status = response.status_code
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ProblemError)
    return cls(status, body, response)


class ClaimTrackerClient:
    """One client per caller key; not thread-safe (it remembers ETags)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.25,
        max_backoff: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.etags: dict[str, str] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # --- the request loop ---------------------------------------------------------------------

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and (retry_after := response.headers.get("retry-after")):
            try:
                return min(float(retry_after), self.max_backoff * 6)
            except ValueError:
                pass
        ceiling = min(self.max_backoff, self.backoff * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries; return a 2xx/3xx response or raise a ``ProblemError``."""
        all_headers = dict(headers or {})
        if json is not None:
            content = orjson.dumps(json)
            all_headers.setdefault("Content-Type", "application/json")
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        retry_answers = method in ("GET", "HEAD", "PUT", "DELETE") or (
            "Idempotency-Key" in all_headers
        )
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = self.http.request(
                    method, path, content=content, params=clean_params, headers=all_headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Never reached the server: safe to retry any method.
                if attempt >= self.max_retries:
                    raise ClientError(f"{method} {path}: {exc}") from exc
            except httpx.TransportError as exc:
                if not retry_answers or attempt >= self.max_retries:
                    raise ClientError(f"{method} {path}: {exc}") from exc
            else:
                status = response.status_code
                retryable = status == 429 or (status in RETRY_STATUSES and retry_answers)
                if not retryable or attempt >= self.max_retries:
                    if status >= 400:
                        raise problem_from(response)
                    return response
            time.sleep(self._delay(attempt, response))
            attempt += 1

    def _remember(self, path: str, response: httpx.Response) -> None:
        if etag := response.headers.get("etag"):
            self.etags[path] = etag

    def _if_match(self, path: str) -> dict[str, str]:
        etag = self.etags.get(path)
        return {"If-Match": etag} if etag else {}

    # --- resources ----------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        response = self.request("GET", API + path, params=params)
        self._remember(path, response)
        return response.json()

    def create(self, collection: str, body: Mapping[str, Any], **params: Any) -> Any:
        response = self.request("POST", API + collection, json=body, params=params)
        data = response.json()
        if isinstance(data, dict) and "id" in data:
            self._remember(f"{collection}/{data['id']}", response)
        return data

    def patch(self, path: str, changes: Mapping[str, Any], **params: Any) -> Any:
        """PATCH with If-Match from the last read (or write) of ``path``."""
        response = self.request(
            "PATCH", API + path, json=changes, params=params, headers=self._if_match(path)
        )
        self._remember(path, response)
        return response.json()

    def delete(self, path: str, *, reason: str) -> None:
        response = self.request(
            "DELETE", API + path, params={"reason": reason}, headers=self._if_match(path)
        )
        self._remember(path, response)

    def get_claim(self, claim_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/claims/{claim_id}")
        return result

    def create_claim(self, body: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.create("/claims", body)
        return result

    def update_claim(
        self, claim_id: int, changes: Mapping[str, Any], *, reason: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.patch(f"/claims/{claim_id}", changes, reason=reason)
        return result

    def set_status(
        self,
        claim_id: int,
        *,
        reason: str,
        status: str | None = None,
        verdict: str | None = None,
        review: str | None = None,
    ) -> dict[str, Any]:
        path = f"/claims/{claim_id}"
        body = {"status": status, "verdict": verdict, "review": review, "reason": reason}
        response = self.request(
            "POST",
            f"{API}{path}/status",
            json={k: v for k, v in body.items() if v is not None},
            headers=self._if_match(path),
        )
        self._remember(path, response)
        result: dict[str, Any] = response.json()
        return result

    def add_evidence(self, claim_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        path = f"/claims/{claim_id}"
        response = self.request(
            "POST", f"{API}{path}/evidence", json=body, headers=self._if_match(path)
        )
        self._remember(path, response)
        result: dict[str, Any] = response.json()
        return result

    def claimreview(self, claim_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"{API}/claims/{claim_id}/claimreview").json()
        return result

    # --- collections and the change feed -----------------------------------------------------

    def iter_collection(self, collection: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following ``next_cursor`` page by page."""
        params = {"limit": 200, **params}
        while True:
            page = self.request("GET", API + collection, params=params).json()
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def iter_claims(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.iter_collection("/claims", **filters)

    def iter_speakers(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.iter_collection("/speakers", **filters)

    def iter_changes(
        self, after: int = 0, *, entity_type: str | None = None, follow: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Revisions in commit order from ``after``; with ``follow``, poll for new ones."""
        while True:
            page = self.request(
                "GET",
                f"{API}/changes",
                params={"after": after, "entity_type": entity_type, "limit": 200},
            ).json()
            yield from page["items"]
            after = page["next_after"]
            if not page["items"]:
                if not follow:
                    return
                time.sleep(1.0)

    # --- imports and exports ------------------------------------------------------------------

    def import_records(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        dry_run: bool = False,
        on_error: str = "stop",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """POST one batch to /imports (NDJSON). Safe to retry: it carries an Idempotency-Key."""
        body = b"".join(orjson.dumps(record) + b"\n" for record in records)
        response = self.request(
            "POST",
            f"{API}/imports",
            content=body,
            params={"dry_run": str(dry_run).lower(), "on_error": on_error},
            headers={
                "Content-Type": "application/x-ndjson",
                "Idempotency-Key": idempotency_key or uuid.uuid4().hex,
            },
        )
        result: dict[str, Any] = response.json()
        return result

    def export(self, format: str = "ndjson", **filters: Any) -> Iterator[bytes]:
        """The export as it streams in (constant memory on both sides)."""
        params = {"format": format, **{k: v for k, v in filters.items() if v is not None}}
        with self.http.stream("GET", f"{API}/exports", params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise problem_from(response)
            yield from response.iter_bytes()
