"""Everything the sync and async clients share and that is not I/O: how each call is built (its
URL, body, headers and retry policy), reading its answer (problems raised, ETags remembered)
and walking pages. The two clients in ``app.client.http`` only send and wait."""

import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx
import orjson
from httpx_retries import Retry

from app.client.errors import ClientError, problem_from
from app.client.retries import Policies
from app.vocabulary.formats import NDJSON_MEDIA_TYPE

API = "/api/v1"
EXPORTS_URL = f"{API}/exports"
PAGE_LIMIT = 200
FOLLOW_POLL_SECONDS = 1.0  # how often a followed change feed asks again once it is caught up


@dataclass(frozen=True, slots=True)
class Call:
    """One request, ready for either client to send."""

    method: str
    url: str
    content: bytes | None
    params: dict[str, Any]
    headers: dict[str, str]
    retry: Retry  # the retry policy that fits it (app.client.retries)
    remember: str | None  # the resource whose ETag a successful answer carries

    def request(self) -> dict[str, Any]:
        """The arguments of ``httpx.Client.request`` / ``.stream`` (and their async twins)."""
        return {
            "method": self.method,
            "url": self.url,
            "content": self.content,
            "params": self.params,
            "headers": self.headers,
            "extensions": {"retry": self.retry},
        }

    def failed(self, exc: httpx.TransportError) -> ClientError:
        """The error of a call the server never answered (retries, if any, ran out)."""
        return ClientError(f"{self.method} {self.url}: {exc}")


class Pages(ABC):
    """Where a walk over a paged resource stands: ``call`` asks for the next page. The clients
    send it, hand the page to ``turn`` and wait as it says."""

    def __init__(self, call: Call) -> None:
        self.call = call

    def _next(self, **params: Any) -> None:
        self.call = replace(self.call, params={**self.call.params, **params})

    @abstractmethod
    def turn(self, page: Mapping[str, Any]) -> float | None:
        """Move past ``page``: ``None`` when the walk is over, else seconds to wait first."""


class CursorPages(Pages):
    """A collection, page after page by ``next_cursor``."""

    def turn(self, page: Mapping[str, Any]) -> float | None:
        if not page.get("next_cursor"):
            return None
        self._next(cursor=page["next_cursor"])
        return 0.0


class ChangePages(Pages):
    """The change feed from ``after``; with ``follow``, polled again once caught up."""

    def __init__(self, call: Call, follow: bool) -> None:
        super().__init__(call)
        self.follow = follow

    def turn(self, page: Mapping[str, Any]) -> float | None:
        self._next(after=page["next_after"])
        if page["items"]:
            return 0.0
        return FOLLOW_POLL_SECONDS if self.follow else None


def claim_path(claim_id: int) -> str:
    return f"/claims/{claim_id}"


def as_object(data: Any) -> dict[str, Any]:
    """A JSON object answer, typed as such."""
    result: dict[str, Any] = data
    return result


class ClientCore:
    """Configuration, retry policies, ETag memory and the call behind every method; no I/O."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        max_retries: int,
        backoff: float,
        max_backoff: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.default_headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.retries = Policies.make(
            max_retries=max_retries, backoff=backoff, max_backoff=max_backoff
        )
        self.etags: dict[str, str] = {}

    # --- building calls and reading answers -----------------------------------------------

    def _prepare(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        remember: str | None = None,
    ) -> Call:
        all_headers = dict(headers or {})
        if json is not None:
            content = orjson.dumps(json)
            all_headers.setdefault("Content-Type", "application/json")
        return Call(
            method=method,
            url=url,
            content=content,
            params={k: v for k, v in (params or {}).items() if v is not None},
            headers=all_headers,
            retry=self.retries.for_call(method, all_headers),
            remember=remember,
        )

    def _answered(self, call: Call, response: httpx.Response) -> httpx.Response:
        """``response`` if it is a success (its ETag remembered); raises the ``ProblemError`` of
        a 4xx or 5xx (its body must have been read)."""
        if response.status_code >= 400:
            raise problem_from(response)
        if call.remember is not None:
            self._remember(call.remember, response)
        return response

    def _created(self, collection: str, response: httpx.Response) -> Any:
        data = response.json()
        if isinstance(data, dict) and "id" in data:
            self._remember(f"{collection}/{data['id']}", response)
        return data

    # --- If-Match memory --------------------------------------------------------------------

    def _remember(self, path: str, response: httpx.Response) -> None:
        if etag := response.headers.get("etag"):
            self.etags[path] = etag

    def _if_match(self, path: str) -> dict[str, str]:
        etag = self.etags.get(path)
        return {"If-Match": etag} if etag else {}

    # --- the calls behind the methods -------------------------------------------------------

    def _guarded(
        self,
        method: str,
        path: str,
        action: str = "",
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Call:
        """A write to ``path`` (or its ``action``) sending If-Match from the last read of
        ``path``, and remembering the ETag it answers with."""
        return self._prepare(
            method,
            API + path + action,
            json=json,
            params=params,
            headers=self._if_match(path),
            remember=path,
        )

    def _get_call(self, path: str, params: Mapping[str, Any]) -> Call:
        return self._prepare("GET", API + path, params=params, remember=path)

    def _create_call(
        self, collection: str, body: Mapping[str, Any], params: Mapping[str, Any]
    ) -> Call:
        return self._prepare("POST", API + collection, json=body, params=params)

    def _patch_call(self, path: str, changes: Mapping[str, Any], params: Mapping[str, Any]) -> Call:
        return self._guarded("PATCH", path, json=changes, params=params)

    def _delete_call(self, path: str, reason: str) -> Call:
        return self._guarded("DELETE", path, params={"reason": reason})

    def _status_call(
        self,
        claim_id: int,
        *,
        reason: str,
        status: str | None,
        verdict: str | None,
        review: str | None,
    ) -> Call:
        body = {"status": status, "verdict": verdict, "review": review, "reason": reason}
        json = {k: v for k, v in body.items() if v is not None}
        return self._guarded("POST", claim_path(claim_id), "/status", json=json)

    def _evidence_call(self, claim_id: int, body: Mapping[str, Any]) -> Call:
        return self._guarded("POST", claim_path(claim_id), "/evidence", json=body)

    def _claimreview_call(self, claim_id: int) -> Call:
        return self._prepare("GET", f"{API}{claim_path(claim_id)}/claimreview")

    def _import_call(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        dry_run: bool,
        on_error: str,
        idempotency_key: str | None,
    ) -> Call:
        return self._prepare(
            "POST",
            f"{API}/imports",
            content=b"".join(orjson.dumps(record) + b"\n" for record in records),
            params={"dry_run": str(dry_run).lower(), "on_error": on_error},
            headers={
                "Content-Type": NDJSON_MEDIA_TYPE,
                "Idempotency-Key": idempotency_key or uuid.uuid4().hex,
            },
        )

    def _export_call(self, format: str, filters: Mapping[str, Any]) -> Call:
        return self._prepare("GET", EXPORTS_URL, params={"format": format, **filters})

    # --- paged walks ------------------------------------------------------------------------

    def _collection_pages(self, collection: str, params: Mapping[str, Any]) -> Pages:
        return CursorPages(
            self._prepare("GET", API + collection, params={"limit": PAGE_LIMIT, **params})
        )

    def _change_pages(self, after: int, entity_type: str | None, follow: bool) -> Pages:
        params = {"after": after, "entity_type": entity_type, "limit": PAGE_LIMIT}
        return ChangePages(self._prepare("GET", f"{API}/changes", params=params), follow)
