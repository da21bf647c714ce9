"""RFC 9457 problem+json: every error the app can meet, rendered as a problem document.

The exception classes live in ``app/core/errors.py`` (no web import); this module, beside the
app factory, turns them and the framework's and database's own errors into responses.
"""

import re
from collections.abc import Callable
from functools import cache
from http import HTTPStatus
from typing import Any, TypeVar

import orjson
import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import compile_path

from app.core.errors import AppError, VersionMismatch, VersionRequired
from app.core.logs import get_logger, mark_logged
from app.web.responses import etag

log = get_logger("app.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_response(
    status: int,
    *,
    slug: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    request: Request | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": f"urn:claimtracker:problem:{slug}" if slug else "about:blank",
        "title": title or phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return Response(
        orjson.dumps(body, default=str),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _clean_validation_errors(raw: list[Any]) -> list[dict[str, Any]]:
    # The raw input is left out: it can be large, and echoing it back helps no one.
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in raw
    ]


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return problem_response(
        exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        request=request,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _version_mismatch(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VersionMismatch)
    current = etag(exc.current_version)
    return problem_response(
        exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=f"The resource is at {current}, not {etag(exc.expected_version)}: "
        "someone changed it since you read it. Read it again and re-apply your change.",
        request=request,
        extra={"current_etag": current},
    )


async def _version_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VersionRequired)
    current = etag(exc.current_version)
    return problem_response(
        exc.status,
        slug=exc.slug,
        title=exc.title,
        detail="This write needs an If-Match header with the ETag you last read "
        f"(currently {current}).",
        request=request,
        extra={"current_etag": current},
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_validation_errors(list(exc.errors()))
    if any(err["type"] == "json_invalid" for err in errors):
        return problem_response(
            400,
            slug="malformed-json",
            detail="The body is not valid JSON.",
            request=request,
            errors=errors,
        )
    return problem_response(
        422,
        slug="validation-error",
        title="Unprocessable Content",
        detail="The request does not match the schema; see errors.",
        request=request,
        errors=errors,
    )


@cache
def _path_regex(path: str) -> re.Pattern[str]:
    return compile_path(path)[0]


EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])
# Endpoints that only answer 405 (a literal path that a pattern route would otherwise take):
# their methods are not allowed ones.
_REFUSERS: set[Callable[..., Any]] = set()


def refuses_methods(endpoint: EndpointT) -> EndpointT:
    """Mark a route's endpoint as one that answers 405 to its methods."""
    _REFUSERS.add(endpoint)
    return endpoint


def only_refuses(endpoint: Callable[..., Any] | None) -> bool:
    return endpoint in _REFUSERS


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path.

    Starlette answers 405 from the first route whose path matches and lists only that route's
    methods, but one path here is served by several routes (every method of /claims/{id} is a
    route of its own). A literal path outranks a pattern that also matches it: the methods of
    /claims/{id} are not allowed at /claims/similar, whose segment is no id."""
    literal: set[str] = set()
    patterned: set[str] = set()
    path = request.url.path
    for context in iter_route_contexts(request.app.routes):
        if only_refuses(context.endpoint):
            continue
        if context.methods and context.path and _path_regex(context.path).match(path):
            (literal if context.path == path else patterned).update(context.methods)
    return sorted(literal or patterned)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
    return problem_response(
        exc.status_code,
        detail=exc.detail if isinstance(exc.detail, str) else None,
        request=request,
        headers=headers,
    )


async def _integrity_error(request: Request, exc: Exception) -> Response:
    log.info("integrity_error", error=str(exc.orig) if isinstance(exc, IntegrityError) else None)
    return problem_response(
        409,
        slug="conflict",
        detail="The change conflicts with stored data (a unique value is taken, "
        "or a referenced row does not exist).",
        request=request,
    )


async def _stale_data(request: Request, exc: Exception) -> Response:
    return problem_response(
        412,
        slug="precondition-failed",
        detail="The resource was changed by someone else; read it again and retry.",
        request=request,
    )


# Every way the database can fail to serve a request that says nothing about the request
# itself: it refused or dropped the connection, it has too many clients, no pooled connection
# came free within CLAIMS_DB_POOL_TIMEOUT_SECONDS, a lock or statement timed out, a
# serialization failure or deadlock chose this transaction. One answer for all: 503 with
# Retry-After, so a client's retry policy can tell overload from a bug. (Writes are safe to
# retry: If-Match and Idempotency-Key keep a retried write from applying twice.)
DATABASE_UNAVAILABLE = (
    OperationalError,  # SQLAlchemy's wrap of the driver's, lock and serialization errors too
    InterfaceError,  # the connection was closed under us
    PoolTimeout,  # the engine's pool wait ran out
    psycopg.OperationalError,  # the driver's own, should one ever arrive unwrapped
)
RETRY_AFTER_SECONDS = 1


def database_unavailable_response(request: Request | None = None) -> Response:
    return problem_response(
        503,
        slug="database-unavailable",
        detail="The database is busy or unreachable; retry after a moment.",
        request=request,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning(
        "database_unavailable",
        error_class=type(exc).__name__,
        error=str(exc).splitlines()[0] if str(exc) else None,
    )
    return database_unavailable_response(request)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The request id the problem document carries; the route and method are in the request's
    # own line.
    log.error(
        "unhandled_error", request_id=getattr(request.state, "request_id", None), exc_info=exc
    )
    mark_logged(exc)
    return problem_response(500, slug="internal-error", request=request)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(VersionMismatch, _version_mismatch)
    app.add_exception_handler(VersionRequired, _version_required)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(StaleDataError, _stale_data)
    for database_error in DATABASE_UNAVAILABLE:
        app.add_exception_handler(database_error, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
