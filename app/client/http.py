"""The typed clients: ``ClaimTrackerClient`` (the CLI and scripts use it) and its asyncio twin
``AsyncClaimTrackerClient``, with the same methods to await.

Both are thin I/O wrappers over ``ClientCore`` (``app.client.core``), which builds every call
and reads every answer; retries happen below them, in httpx-retries' transport
(``app.client.retries`` says what is retried and how long it waits).
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, Self

import httpx
from httpx_retries import RetryTransport

from app.client.core import Call, ClientCore, Pages, as_object, claim_path


class ClaimTrackerClient(ClientCore):
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
        super().__init__(
            base_url, token, max_retries=max_retries, backoff=backoff, max_backoff=max_backoff
        )
        self.http = httpx.Client(
            base_url=self.base_url,
            headers=self.default_headers,
            timeout=timeout,
            transport=RetryTransport(transport or httpx.HTTPTransport(), self.retries.default),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # --- sending ------------------------------------------------------------------------------

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
        return self._send(
            self._prepare(method, path, json=json, content=content, params=params, headers=headers)
        )

    def _send(self, call: Call) -> httpx.Response:
        try:
            response = self.http.request(**call.request())
        except httpx.TransportError as exc:
            raise call.failed(exc) from exc
        return self._answered(call, response)

    def _walk(self, pages: Pages) -> Iterator[dict[str, Any]]:
        while True:
            page = self._send(pages.call).json()
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
        return as_object(self.get(claim_path(claim_id)))

    def create_claim(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return as_object(self.create("/claims", body))

    def update_claim(
        self, claim_id: int, changes: Mapping[str, Any], *, reason: str | None = None
    ) -> dict[str, Any]:
        return as_object(self.patch(claim_path(claim_id), changes, reason=reason))

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
        return as_object(self._send(call).json())

    def add_evidence(self, claim_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        return as_object(self._send(self._evidence_call(claim_id, body)).json())

    def claimreview(self, claim_id: int) -> dict[str, Any]:
        return as_object(self._send(self._claimreview_call(claim_id)).json())

    # --- collections and the change feed -----------------------------------------------------

    def iter_collection(self, collection: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following ``next_cursor`` page by page."""
        return self._walk(self._collection_pages(collection, params))

    def iter_claims(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.iter_collection("/claims", **filters)

    def iter_speakers(self, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.iter_collection("/speakers", **filters)

    def iter_changes(
        self, after: int = 0, *, entity_type: str | None = None, follow: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Revisions in the feed's order from ``after``; with ``follow``, poll for new ones."""
        return self._walk(self._change_pages(after, entity_type, follow))

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
        return as_object(self._send(call).json())

    def export(self, format: str = "ndjson", **filters: Any) -> Iterator[bytes]:
        """The export as it streams in (constant memory on both sides)."""
        call = self._export_call(format, filters)
        try:
            with self.http.stream(**call.request()) as response:
                if response.is_error:
                    response.read()
                self._answered(call, response)
                yield from response.iter_bytes()
        except httpx.TransportError as exc:
            raise call.failed(exc) from exc


class AsyncClaimTrackerClient(ClientCore):
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
        super().__init__(
            base_url, token, max_retries=max_retries, backoff=backoff, max_backoff=max_backoff
        )
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self.default_headers,
            timeout=timeout,
            transport=RetryTransport(transport or httpx.AsyncHTTPTransport(), self.retries.default),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- sending ------------------------------------------------------------------------------

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
        return await self._send(
            self._prepare(method, path, json=json, content=content, params=params, headers=headers)
        )

    async def _send(self, call: Call) -> httpx.Response:
        try:
            response = await self.http.request(**call.request())
        except httpx.TransportError as exc:
            raise call.failed(exc) from exc
        return self._answered(call, response)

    async def _walk(self, pages: Pages) -> AsyncIterator[dict[str, Any]]:
        while True:
            page = (await self._send(pages.call)).json()
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
        return as_object(await self.get(claim_path(claim_id)))

    async def create_claim(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return as_object(await self.create("/claims", body))

    async def update_claim(
        self, claim_id: int, changes: Mapping[str, Any], *, reason: str | None = None
    ) -> dict[str, Any]:
        return as_object(await self.patch(claim_path(claim_id), changes, reason=reason))

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
        return as_object((await self._send(call)).json())

    async def add_evidence(self, claim_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        return as_object((await self._send(self._evidence_call(claim_id, body))).json())

    async def claimreview(self, claim_id: int) -> dict[str, Any]:
        return as_object((await self._send(self._claimreview_call(claim_id))).json())

    # --- collections and the change feed -----------------------------------------------------

    def iter_collection(self, collection: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Every item of a collection, following ``next_cursor`` page by page."""
        return self._walk(self._collection_pages(collection, params))

    def iter_claims(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        return self.iter_collection("/claims", **filters)

    def iter_speakers(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        return self.iter_collection("/speakers", **filters)

    def iter_changes(
        self, after: int = 0, *, entity_type: str | None = None, follow: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """Revisions in the feed's order from ``after``; with ``follow``, poll for new ones."""
        return self._walk(self._change_pages(after, entity_type, follow))

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
        return as_object((await self._send(call)).json())

    async def export(self, format: str = "ndjson", **filters: Any) -> AsyncIterator[bytes]:
        """The export as it streams in (constant memory on both sides)."""
        call = self._export_call(format, filters)
        try:
            async with self.http.stream(**call.request()) as response:
                if response.is_error:
                    await response.aread()
                self._answered(call, response)
                async for chunk in response.aiter_bytes():
                    yield chunk
        except httpx.TransportError as exc:
            raise call.failed(exc) from exc
