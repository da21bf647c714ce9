"""The request's id, its log line and its metrics: the outermost middleware.

Every request gets the server's own id (uuid4 hex): the ``X-Request-ID`` response header, the
problem documents' ``request_id``, the revisions' ``request_id`` (hashed into the history
chain) and every log line written while it runs all carry it. A usable client X-Request-ID is
kept apart: echoed in ``X-Client-Request-ID`` and logged as ``client_request_id``, never stored
in a revision.

When the response is done, one ``request`` event is logged (docs/operations.md#logs names its
fields) and, unless CLAIMS_METRICS=off, the request is counted (``app.core.metrics``). The
route is the matched route's template, never the raw path: the path can carry ids and
search terms, and a label per path would grow without bound.
"""

import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any

from fastapi.routing import iter_route_contexts
from prometheus_client.metrics import Counter as MetricCounter
from prometheus_client.metrics import Histogram
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.core.logs import get_logger, write_json_line
from app.core.request_record import CURRENT, RequestRecord
from app.web.middleware import client_request_id

log = get_logger("app.request")
# Methods are labels: anything else a client sends counts as "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The ids of one line's revisions, at most; ``revisions`` still counts them all.
MAX_LOGGED_REVISION_IDS = 100
_Children = tuple[MetricCounter, Histogram, Histogram]


class RouteTemplates:
    """The full path template of the route a request matched.

    ``scope["route"]`` is the route object, whose own ``path`` lacks the prefix it was included
    under (``/claims`` for ``/api/v1/claims``); FastAPI's route contexts know the full one. A
    route included twice (health: ``/healthz`` and ``/api/v1/healthz``) has two: the one whose
    pattern matches the path is taken."""

    def __init__(self, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self._routes = routes
        self._templates: dict[int, list[tuple[str, re.Pattern[str]]]] = {}

    def _rebuild(self) -> None:
        templates: dict[int, list[tuple[str, re.Pattern[str]]]] = {}
        for context in iter_route_contexts(self._routes()):
            if context.path_format:
                regex = compile_path(context.path_format)[0]
                templates.setdefault(id(context.original_route), []).append(
                    (context.path_format, regex)
                )
        self._templates = templates

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return metrics.UNMATCHED_ROUTE
        candidates = self._templates.get(id(route))
        if candidates is None:  # the first request, or a route added since
            self._rebuild()
            candidates = self._templates.get(id(route))
            if candidates is None:
                return getattr(route, "path", None) or metrics.UNMATCHED_ROUTE
        if len(candidates) == 1:
            return candidates[0][0]
        path = scope["path"]
        return next((template for template, regex in candidates if regex.match(path)), "?")


class RequestLogMiddleware:
    def __init__(
        self, app: ASGIApp, *, routes: Callable[[], Sequence[BaseRoute]], count: bool
    ) -> None:
        self.app = app
        self.templates = RouteTemplates(routes)
        self.count = count
        # The labelled children by (route, method, status): ``labels()`` takes a lock and
        # builds a key on every call. Bounded by the routes, methods and statuses there are.
        self._children: dict[tuple[str, str, int], _Children] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        request_id = uuid.uuid4().hex
        client_id = client_request_id(scope["headers"])
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        added = [(b"x-request-id", request_id.encode())]
        if client_id is not None:
            state["client_request_id"] = client_id
            added.append((b"x-client-request-id", client_id.encode()))
        record = RequestRecord(request_id, client_id)
        # Not reset afterwards: each request runs in a task of its own, and uvicorn's own line
        # about an exception that escaped (logged after this returns) keeps the id this way.
        CURRENT.set(record)
        status = 500  # what the server answers if the app ends without a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Appended as raw pairs: MutableHeaders would rescan the list for each one.
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._done(scope, record, status, perf_counter() - started)

    def _done(self, scope: Scope, record: RequestRecord, status: int, seconds: float) -> None:
        template = self.templates.of(scope)
        method = scope["method"] if scope["method"] in _METHODS else "other"
        # A failed request's writes were rolled back: its revisions are not in the history.
        revisions = record.revisions if status < 400 else []
        fields: dict[str, Any] = {
            "request_id": record.request_id,
            "method": method,
            "route": template,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "db_ms": round(record.db_seconds * 1000, 3),
        }
        if record.client_request_id is not None:
            fields["client_request_id"] = record.client_request_id
        if record.key_id is not None:
            fields["key_id"] = record.key_id
            fields["role"] = record.role
        if revisions:
            fields["revisions"] = len(revisions)
            fields["revision_ids"] = [rid for _, _, rid in revisions[:MAX_LOGGED_REVISION_IDS]]
        level = logging.ERROR if status >= 500 else logging.INFO
        if not write_json_line(level, "request", "app.request", fields):
            (log.error if status >= 500 else log.info)("request", **fields)
        if self.count:
            self._count(template, method, status, seconds, record.db_seconds, revisions)

    def _count(
        self,
        route: str,
        method: str,
        status: int,
        seconds: float,
        db_seconds: float,
        revisions: list[tuple[str, str, int]],
    ) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                metrics.REQUESTS.labels(route, method, str(status)),
                metrics.REQUEST_SECONDS.labels(route, method, str(status)),
                metrics.DB_SECONDS.labels(route, method),
            )
            self._children[key] = children
        requests, durations, db_durations = children
        requests.inc()
        durations.observe(seconds)
        db_durations.observe(db_seconds)
        if revisions:
            written = Counter((entity_type, action) for entity_type, action, _ in revisions)
            for (entity_type, action), count in written.items():
                metrics.REVISIONS.labels(entity_type, action).inc(count)
