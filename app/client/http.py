"""Typed httpx clients for the claim tracker API: ``ClaimTrackerClient`` (the CLI and scripts use
it) and its asyncio twin ``AsyncClaimTrackerClient``, with the same methods to await.

    with ClaimTrackerClient("http://127.0.0.1:8000", token="ct_...") as api:
        claim = api.get_claim(7)                    # remembers the ETag it read
        api.update_claim(7, {"place": "Moscow"})    # sends it as If-Match
        for claim in api.iter_claims(status="false"):
            ...

    async with AsyncClaimTrackerClient("http://127.0.0.1:8000", token="ct_...") as api:
        claim = await api.get_claim(7)
        async for claim in api.iter_claims(status="false"):
            ...

Retries connection errors, 429 (honouring ``Retry-After``) and 5xx with exponential backoff
and jitter. Writes that are not idempotent by themselves (POST) are retried only when they carry
an ``Idempotency-Key`` (imports always do) or failed before reaching the server.
problem+json answers become ``ProblemError`` subclasses.

Everything but the I/O lives once, in ``_ClientBase`` and the helpers around it: how each call is
built, the retry policy and its delays, the ETag memory, paging and problem parsing. The two
clients only send, sleep and read.
"""

import asyncio
import random
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx
import orjson

API = "/api/v1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
EXPORTS_URL = f"{API}/exports"
PAGE_LIMIT = 200
FOLLOW_POLL_SECONDS = 1.0  # how often a followed change feed asks again once it is caught up


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


# --- shared by both clients: everything that is not I/O ----------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    """One request, ready for either client to send (and resend)."""

    method: str
    url: str
    content: bytes | None
    params: dict[str, Any]
    headers: dict[str, str]
    retry_answers: bool  # may a retryable answer (5xx) be retried: idempotent or keyed
    remember: str | None  # the resource whose ETag a successful answer carries


def _prepare(
    method: str,
    url: str,
    *,
    json: Any = None,
    content: bytes | None = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    remember: str | None = None,
) -> _Call:
    all_headers = dict(headers or {})
    if json is not None:
        content = orjson.dumps(json)
        all_headers.setdefault("Content-Type", "application/json")
    return _Call(
        method=method,
        url=url,
        content=content,
        params={k: v for k, v in (params or {}).items() if v is not None},
        headers=all_headers,
        retry_answers=method in IDEMPOTENT_METHODS or "Idempotency-Key" in all_headers,
        remember=remember,
    )


def _http_settings(base_url: str, token: str | None) -> tuple[str, dict[str, str]]:
    """The base URL and default headers of either client's httpx client."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return base_url.rstrip("/"), headers


def _claim_path(claim_id: int) -> str:
    return f"/claims/{claim_id}"


def _object(data: Any) -> dict[str, Any]:
    """A JSON object answer, typed as such."""
    result: dict[str, Any] = data
    return result


def _export_params(format: str, filters: Mapping[str, Any]) -> dict[str, Any]:
    return {"format": format, **{k: v for k, v in filters.items() if v is not None}}


class _Pages(ABC):
    """Where a walk over a paged resource stands; the clients fetch each page and wait."""

    def __init__(self, url: str, params: dict[str, Any]) -> None:
        self.url = url
        self.params = params

    def call(self) -> _Call:
        """The request for the current page."""
        return _prepare("GET", self.url, params=self.params)

    @abstractmethod
    def turn(self, page: Mapping[str, Any]) -> float | None:
        """Move past ``page``: ``None`` when the walk is over, else seconds to wait first."""


class _CursorPages(_Pages):
    """A collection, page after page by ``next_cursor``."""

    def turn(self, page: Mapping[str, Any]) -> float | None:
        if not page.get("next_cursor"):
            return None
        self.params["cursor"] = page["next_cursor"]
        return 0.0


class _ChangePages(_Pages):
    """The change feed from ``after``; with ``follow``, polled again once caught up."""

    def __init__(self, after: int, entity_type: str | None, follow: bool) -> None:
        params = {"after": after, "entity_type": entity_type, "limit": PAGE_LIMIT}
        super().__init__(f"{API}/changes", params)
        self.follow = follow

    def turn(self, page: Mapping[str, Any]) -> float | None:
        self.params["after"] = page["next_after"]
        if page["items"]:
            return 0.0
        return FOLLOW_POLL_SECONDS if self.follow else None


class _ClientBase:
    """Configuration, retry policy, ETag memory and the calls of every method; no I/O."""

    def __init__(self, *, max_retries: int, backoff: float, max_backoff: float) -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.etags: dict[str, str] = {}

    # --- the retry policy ---------------------------------------------------------------------

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and (retry_after := response.headers.get("retry-after")):
            try:
                return min(float(retry_after), self.max_backoff * 6)
            except ValueError:
                pass
        ceiling = min(self.max_backoff, self.backoff * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

    def _after_error(self, call: _Call, attempt: int, exc: httpx.TransportError) -> float:
        """Seconds to wait before sending ``call`` again; ``ClientError`` if it may not be."""
        # A connection never made never reached the server: safe to retry any method.
        never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
        if attempt >= self.max_retries or not (never_sent or call.retry_answers):
            raise ClientError(f"{call.method} {call.url}: {exc}") from exc
        return self._delay(attempt, None)

    def _after_answer(self, call: _Call, attempt: int, response: httpx.Response) -> float | None:
        """``None`` when ``response`` is the result (its ETag remembered), else seconds to wait
        before sending ``call`` again; raises the ``ProblemError`` of a final 4xx or 5xx."""
        status = response.status_code
        retryable = status == 429 or (status in RETRY_STATUSES and call.retry_answers)
        if retryable and attempt < self.max_retries:
            return self._delay(attempt, response)
        if status >= 400:
            raise problem_from(response)
        if call.remember is not None:
            self._remember(call.remember, response)
        return None

    # --- If-Match memory ----------------------------------------------------------------------

    def _remember(self, path: str, response: httpx.Response) -> None:
        if etag := response.headers.get("etag"):
            self.etags[path] = etag

    def _if_match(self, path: str) -> dict[str, str]:
        etag = self.etags.get(path)
        return {"If-Match": etag} if etag else {}

    # --- the calls behind the methods ---------------------------------------------------------

    def _guarded(
        self,
        method: str,
        path: str,
        action: str = "",
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> _Call:
        """A write to ``path`` (or its ``action``) sending If-Match from the last read of
        ``path``, and remembering the ETag it answers with."""
        return _prepare(
            method,
            API + path + action,
            json=json,
            params=params,
            headers=self._if_match(path),
            remember=path,
        )

    def _get_call(self, path: str, params: Mapping[str, Any]) -> _Call:
        return _prepare("GET", API + path, params=params, remember=path)

    def _create_call(
        self, collection: str, body: Mapping[str, Any], params: Mapping[str, Any]
    ) -> _Call:
        return _prepare("POST", API + collection, json=body, params=params)

    def _created(self, collection: str, response: httpx.Response) -> Any:
        data = response.json()
        if isinstance(data, dict) and "id" in data:
            self._remember(f"{collection}/{data['id']}", response)
        return data

    def _patch_call(
        self, path: str, changes: Mapping[str, Any], params: Mapping[str, Any]
    ) -> _Call:
        return self._guarded("PATCH", path, json=changes, params=params)

    def _delete_call(self, path: str, reason: str) -> _Call:
        return self._guarded("DELETE", path, params={"reason": reason})

    def _status_call(
        self,
        claim_id: int,
        *,
        reason: str,
        status: str | None,
        verdict: str | None,
        review: str | None,
    ) -> _Call:
        body = {"status": status, "verdict": verdict, "review": review, "reason": reason}
        json = {k: v for k, v in body.items() if v is not None}
        return self._guarded("POST", _claim_path(claim_id), "/status", json=json)

    def _evidence_call(self, claim_id: int, body: Mapping[str, Any]) -> _Call:
        return self._guarded("POST", _claim_path(claim_id), "/evidence", json=body)

    def _claimreview_call(self, claim_id: int) -> _Call:
        return _prepare("GET", f"{API}{_claim_path(claim_id)}/claimreview")

    def _import_call(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        dry_run: bool,
        on_error: str,
        idempotency_key: str | None,
    ) -> _Call:
        return _prepare(
            "POST",
            f"{API}/imports",
            content=b"".join(orjson.dumps(record) + b"\n" for record in records),
            params={"dry_run": str(dry_run).lower(), "on_error": on_error},
            headers={
                "Content-Type": "application/x-ndjson",
                "Idempotency-Key": idempotency_key or uuid.uuid4().hex,
            },
        )


# --- the synchronous client -------------------------------------------------------------------


class ClaimTrackerClient(_ClientBase):
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
        super().__init__(max_retries=max_retries, backoff=backoff, max_backoff=max_backoff)
        url, headers = _http_settings(base_url, token)
        self.http = httpx.Client(
            base_url=url, headers=headers, timeout=timeout, transport=transport
        )

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
        call = _prepare(method, path, json=json, content=content, params=params, headers=headers)
        return self._send(call)

    def _send(self, call: _Call) -> httpx.Response:
        attempt = 0
        delay: float | None
        while True:
            try:
                response = self.http.request(
                    call.method,
                    call.url,
                    content=call.content,
                    params=call.params,
                    headers=call.headers,
                )
            except httpx.TransportError as exc:
                delay = self._after_error(call, attempt, exc)
            else:
                delay = self._after_answer(call, attempt, response)
                if delay is None:
                    return response
            time.sleep(delay)
            attempt += 1

    def _walk(self, pages: _Pages) -> Iterator[dict[str, Any]]:
        while True:
            page = self._send(pages.call()).json()
            yield from page["items"]
            delay = pages.turn(page)
            if delay is None:
                return
            if delay:
                time.sleep(delay)

    # --- resources ----------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        return self._send(self._get_call(path, params)).json()

    def create(self, collection: str, body: Mapping[str, Any], **params: Any) -> Any:
        return self._created(collection, self._send(self._create_call(collection, body, params)))

    def patch(self, path: str, changes: Mapping[str, Any], **params: Any) -> Any:
        """PATCH with If-Match from the last read (or write) of ``path``."""
        return self._send(self._patch_call(path, changes, params)).json()

    def delete(self, path: str, *, reason: str) -> None:
        self._send(self._delete_call(path, reason))

    def get_claim(self, claim_id: int) -> dict[str, Any]:
        return _object(self.get(_claim_path(claim_id)))

    def create_claim(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return _object(self.create("/claims", body))

    def update_claim(
        self, claim_id: int, changes: Mapping[str, Any], *, reason: str | None = None
    ) -> dict[str, Any]:
        return _object(self.patch(_claim_path(claim_id), changes, reason=reason))

    def set_status(
        self,
        claim_id: int,
        *,
        reason: str,
        status: str | None = None,
        verdict: str | None = None,
        review: str | None = None,
    ) -> dict[str, Any]:
        call = self._status_call(
            claim_id, reason=reason, status=status, verdict=verdict, review=review
        )
        return _object(self._send(call).json())

    def add_evidence(self, claim_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        return _object(self._send(self._evidence_call(claim_id, body)).json())

    def claimreview(self, claim_id: int) -> dict[str, Any]:
        return _object(self._send(self._claimreview_call(claim_id)).json())

    # --- collections and the change feed -----------------------------------------------------

    def iter_collection(self, collection: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following ``next_cursor`` page by page."""
        return self._walk(_CursorPages(API + collection, {"limit": PAGE_LIMIT, **params}))

    def iter_claims(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.iter_collection("/claims", **filters)

    def iter_speakers(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.iter_collection("/speakers", **filters)

    def iter_changes(
        self, after: int = 0, *, entity_type: str | None = None, follow: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Revisions in commit order from ``after``; with ``follow``, poll for new ones."""
        return self._walk(_ChangePages(after, entity_type, follow))

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
        call = self._import_call(
            records, dry_run=dry_run, on_error=on_error, idempotency_key=idempotency_key
        )
        return _object(self._send(call).json())

    def export(self, format: str = "ndjson", **filters: Any) -> Iterator[bytes]:
        """The export as it streams in (constant memory on both sides)."""
        params = _export_params(format, filters)
        with self.http.stream("GET", EXPORTS_URL, params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise problem_from(response)
            yield from response.iter_bytes()


# --- the asynchronous twin --------------------------------------------------------------------


class AsyncClaimTrackerClient(_ClientBase):
    """``ClaimTrackerClient`` for asyncio: the same methods, awaited (iterators with
    ``async for``). One client per caller key and task; it remembers ETags."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.25,
        max_backoff: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(max_retries=max_retries, backoff=backoff, max_backoff=max_backoff)
        url, headers = _http_settings(base_url, token)
        self.http = httpx.AsyncClient(
            base_url=url, headers=headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- the request loop ---------------------------------------------------------------------

    async def request(
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
        call = _prepare(method, path, json=json, content=content, params=params, headers=headers)
        return await self._send(call)

    async def _send(self, call: _Call) -> httpx.Response:
        attempt = 0
        delay: float | None
        while True:
            try:
                response = await self.http.request(
                    call.method,
                    call.url,
                    content=call.content,
                    params=call.params,
                    headers=call.headers,
                )
            except httpx.TransportError as exc:
                delay = self._after_error(call, attempt, exc)
            else:
                delay = self._after_answer(call, attempt, response)
                if delay is None:
                    return response
            await asyncio.sleep(delay)
            attempt += 1

    async def _walk(self, pages: _Pages) -> AsyncIterator[dict[str, Any]]:
        while True:
            page = (await self._send(pages.call())).json()
            for item in page["items"]:
                yield item
            delay = pages.turn(page)
            if delay is None:
                return
            if delay:
                await asyncio.sleep(delay)

    # --- resources ----------------------------------------------------------------------------

    async def get(self, path: str, **params: Any) -> Any:
        return (await self._send(self._get_call(path, params))).json()

    async def create(self, collection: str, body: Mapping[str, Any], **params: Any) -> Any:
        response = await self._send(self._create_call(collection, body, params))
        return self._created(collection, response)

    async def patch(self, path: str, changes: Mapping[str, Any], **params: Any) -> Any:
        """PATCH with If-Match from the last read (or write) of ``path``."""
        return (await self._send(self._patch_call(path, changes, params))).json()

    async def delete(self, path: str, *, reason: str) -> None:
        await self._send(self._delete_call(path, reason))

    async def get_claim(self, claim_id: int) -> dict[str, Any]:
        return _object(await self.get(_claim_path(claim_id)))

    async def create_claim(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return _object(await self.create("/claims", body))

    async def update_claim(
        self, claim_id: int, changes: Mapping[str, Any], *, reason: str | None = None
    ) -> dict[str, Any]:
        return _object(await self.patch(_claim_path(claim_id), changes, reason=reason))

    async def set_status(
        self,
        claim_id: int,
        *,
        reason: str,
        status: str | None = None,
        verdict: str | None = None,
        review: str | None = None,
    ) -> dict[str, Any]:
        call = self._status_call(
            claim_id, reason=reason, status=status, verdict=verdict, review=review
        )
        return _object((await self._send(call)).json())

    async def add_evidence(self, claim_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        return _object((await self._send(self._evidence_call(claim_id, body))).json())

    async def claimreview(self, claim_id: int) -> dict[str, Any]:
        return _object((await self._send(self._claimreview_call(claim_id))).json())

    # --- collections and the change feed -----------------------------------------------------

    def iter_collection(self, collection: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Every item of a collection, following ``next_cursor`` page by page."""
        return self._walk(_CursorPages(API + collection, {"limit": PAGE_LIMIT, **params}))

    def iter_claims(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        return self.iter_collection("/claims", **filters)

    def iter_speakers(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        return self.iter_collection("/speakers", **filters)

    def iter_changes(
        self, after: int = 0, *, entity_type: str | None = None, follow: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """Revisions in commit order from ``after``; with ``follow``, poll for new ones."""
        return self._walk(_ChangePages(after, entity_type, follow))

    # --- imports and exports ------------------------------------------------------------------

    async def import_records(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        dry_run: bool = False,
        on_error: str = "stop",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """POST one batch to /imports (NDJSON). Safe to retry: it carries an Idempotency-Key."""
        call = self._import_call(
            records, dry_run=dry_run, on_error=on_error, idempotency_key=idempotency_key
        )
        return _object((await self._send(call)).json())

    async def export(self, format: str = "ndjson", **filters: Any) -> AsyncIterator[bytes]:
        """The export as it streams in (constant memory on both sides)."""
        params = _export_params(format, filters)
        async with self.http.stream("GET", EXPORTS_URL, params=params) as response:
            if response.status_code >= 400:
                await response.aread()
                raise problem_from(response)
            async for chunk in response.aiter_bytes():
                yield chunk
