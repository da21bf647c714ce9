"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task per request)."""

import re
from collections.abc import Awaitable, Callable, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web.problems import problem_response

REQUEST_ID_HEADER = "X-Request-ID"
CLIENT_REQUEST_ID_HEADER = "X-Client-Request-ID"
# What a client's own id may look like to be echoed and logged: one copy, ASCII, bounded.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def client_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The client's X-Request-ID if it is usable: exactly one copy, of 1-128 characters from
    ``A-Z a-z 0-9 . _ : -``. Anything else (repeated, too long, control characters, non-ASCII
    bytes) is ignored, never an error."""
    found = None
    for name, value in headers:
        if name == b"x-request-id":
            if found is not None:
                return None  # several copies: no telling which one the client meant
            found = value
    if found is None or len(found) > 128:
        return None
    text = found.decode("latin-1")
    # fullmatch: ``$`` would let a trailing newline through.
    return text if _CLIENT_ID.fullmatch(text) else None


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options: nosniff`` on every response. ``Cache-Control: no-store`` on
    every API response to a request with credentials, whatever the route set, and on every
    other response that sets no Cache-Control of its own: answers carry keys' data and verdicts
    that change, and nothing here answers If-None-Match, so a stored copy would save nothing
    (the versioned docs assets set their own). ``Vary: Authorization`` on API responses: the
    answer depends on the key."""

    def __init__(self, app: ASGIApp, api_prefix: str) -> None:
        self.app = app
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope["path"].startswith(self.api_prefix)
        credentialed = is_api and any(name == b"authorization" for name, _ in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(message.get("headers", ()), is_api, credentialed)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """413 for bodies over the limit, before they are read whole."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Exact paths with their own limit (POST /api/v1/imports takes large batches).
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.per_path.get(scope["path"], self.max_bytes)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > max_bytes:
                    await self._too_large(scope, receive, send, max_bytes)
                    return
                break
        received = 0

        def over_the_limit(chunk: bytes) -> bool:
            nonlocal received
            received += len(chunk)
            return received > max_bytes

        async def too_large(scope: Scope, receive: Receive, send: Send) -> None:
            await self._too_large(scope, receive, send, max_bytes)

        await _watch_body(self.app, scope, receive, send, over_the_limit, too_large)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(
            413,
            slug="payload-too-large",
            detail=f"The body is larger than the {limit} bytes this route accepts.",
        )
        await response(scope, receive, send)


_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")


def _secured(
    headers: Iterable[tuple[bytes, bytes]], is_api: bool, credentialed: bool
) -> list[tuple[bytes, bytes]]:
    """``headers`` with SecurityHeadersMiddleware's additions, in one pass over the raw pairs
    (ASGI header names are lower case)."""
    secured = []
    has_cache_control = False
    vary = b""
    for name, value in headers:
        if name == b"cache-control":
            if credentialed:
                continue  # replaced by no-store below
            has_cache_control = True
        elif name == b"vary" and is_api:
            vary = vary + b", " + value if vary else value
            continue
        elif name == b"x-content-type-options":
            continue
        secured.append((name, value))
    secured.append(_NOSNIFF)
    if not has_cache_control:
        secured.append(_NO_STORE)
    if is_api:
        secured.append((b"vary", vary + b", Authorization" if vary else b"Authorization"))
    return secured


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def is_json_media_type(content_type: str) -> bool:
    """application/json, or any +json type (application/merge-patch+json, ...)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class JsonContentTypeMiddleware:
    """415 for a POST, PUT or PATCH body that does not say it is JSON (every body here is);
    400 for a NUL character in the query or a JSON body (PostgreSQL text cannot hold one, and
    no field of the desk needs it).

    A request without a body passes: routing and validation answer it (405, 422) as before.
    """

    def __init__(self, app: ASGIApp, extra_types: dict[str, frozenset[str]] | None = None) -> None:
        self.app = app
        # Exact paths that also take other media types (POST /api/v1/imports: NDJSON).
        self.extra_types = extra_types or {}

    def _accepts(self, path: str, content_type: str) -> bool:
        if is_json_media_type(content_type):
            return True
        media_type = content_type.split(";", 1)[0].strip().lower()
        return media_type in self.extra_types.get(path, frozenset())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"") or b"%00" in scope.get("raw_path", b""):
            await _nul_refused(scope, receive, send)
            return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        has_body = False
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"content-length":
                has_body = has_body or value.strip() not in (b"0", b"")
            elif name == b"transfer-encoding":
                has_body = True
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        if has_body and not self._accepts(scope["path"], content_type):
            response = problem_response(
                415,
                slug="unsupported-media-type",
                detail="Request bodies are JSON: send `Content-Type: application/json`.",
            )
            await response(scope, receive, send)
            return
        tail = b""

        def carries_nul(chunk: bytes) -> bool:
            nonlocal tail
            chunk = tail + chunk
            tail = chunk[-5:]  # an escape split across two chunks is still seen
            return b"\\u0000" in chunk

        await _watch_body(self.app, scope, receive, send, carries_nul, _nul_refused)


async def _nul_refused(scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(
        400, slug="nul-character", detail="NUL characters (\\u0000, %00) are not accepted."
    )
    await response(scope, receive, send)


async def _watch_body(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    refuses: Callable[[bytes], bool],
    refusal: Callable[[Scope, Receive, Send], Awaitable[None]],
) -> None:
    """Run ``app`` on the request while ``refuses`` looks at each chunk of its body. Once it
    says so, the app sees the client go away and stops reading, its answer is dropped and
    ``refusal`` answers instead (raising inside receive would become a 400 in FastAPI's body
    parsing)."""
    refused = False

    async def watching_receive() -> Message:
        nonlocal refused
        if refused:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request" and refuses(message.get("body", b"")):
            refused = True
            return {"type": "http.disconnect"}
        return message

    async def guarded_send(message: Message) -> None:
        if not refused:
            await send(message)

    try:
        await app(scope, watching_receive, guarded_send)
    except Exception:
        if not refused:
            raise
    if refused:
        await refusal(scope, receive, send)
