"""The public fact-check pages over HTTP (mounted when ``CLAIMS_PUBLIC_PAGES=true``): HTML
pages with ETag and ``Cache-Control: public``, HTML error pages (not problem+json), the embed
card, oEmbed and the Atom feed. None of them is in the OpenAPI document: they are not the API.

Reads run as the API's hot reads do (precompiled driver SQL through ``Database``: PostgreSQL's
async pool, SQLite inline); templates are rendered in the thread pool, never on the event
loop. Rendered bodies are kept per process until a revision commits (``app.pages.cache``), and
every route answers HEAD as it answers GET, without the body.
"""

import hashlib
import re
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

import orjson
from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.responses import Response

from app.core import errors
from app.core.settings import Settings
from app.pages import feed, queries, render
from app.pages.cache import Body, PagesState, read_marker
from app.pages.render import Site
from app.tlog.models import CurrentCheckpoint
from app.web.dependencies import database_of
from app.web.problems import problem_response


class _GetOrHead(APIRoute):
    """A route answering HEAD as it answers GET: the same status and headers (Content-Length
    included), no body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            response = await handler(request)
            if request.method != "HEAD":
                return response
            headers = dict(response.headers)  # Content-Length: the GET body's
            return Response(status_code=response.status_code, headers=headers)

        return answer


router = APIRouter(include_in_schema=False, route_class=_GetOrHead)


def page_route(path: str) -> Callable[[Any], Any]:
    return router.api_route(path, methods=["GET", "HEAD"])


HTML = "text/html; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
# The pages run no script (the JSON-LD is data, not run), load only their own stylesheet, and
# may be framed only by themselves; the embed card's frame-ancestors comes from a setting.
_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors {ancestors}"
)
_CLAIM_PATH = re.compile(r"/claims/([1-9][0-9]{0,9})/?")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def site_of(settings: Settings) -> Site:
    """The pages' absolute URLs come from configuration, never from the Host header:
    ``public_base_url``, or the address ``claimtracker serve`` listens on."""
    host = _LOOPBACK.get(settings.host, settings.host)
    base = settings.public_base_url or f"http://{host}:{settings.port}"
    return Site(
        settings.organization_name,
        settings.organization_url,
        base.rstrip("/"),
        log_interval_seconds=settings.tlog_append_seconds,
    )


# Listening on every address (the Docker image) is no address to link to: set
# CLAIMS_PUBLIC_BASE_URL there; until then the links at least work on the machine itself.
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}  # noqa: S104


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def body_of(content: bytes) -> Body:
    return Body(content, _etag(content))


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags or "*" in tags


def cached(
    request: Request, body: Body, media_type: str, *, frame_ancestors: str = "'self'"
) -> Response:
    """A 200 with a strong ETag of its body and ``Cache-Control: public``; 304 (no body) when
    the request's If-None-Match names that ETag."""
    headers = {
        "ETag": body.etag,
        "Cache-Control": f"public, max-age={_settings(request).pages_max_age_seconds}",
    }
    if media_type == HTML:
        headers["Content-Security-Policy"] = _CSP.format(ancestors=frame_ancestors)
    if _not_modified(request, body.etag):
        return Response(status_code=304, headers=headers)
    return Response(body.content, media_type=media_type, headers=headers)


def _state(request: Request) -> PagesState:
    state: PagesState = request.app.state.public_pages
    return state


# What a route renders from the checkpoint to show: the body, or an answer not to keep (an
# error page, a problem).
Render = Callable[[CurrentCheckpoint | None], Awaitable[bytes | Response]]


async def from_cache(
    request: Request,
    key: Hashable,
    media_type: str,
    make: Render,
    *,
    frame_ancestors: str = "'self'",
) -> Response:
    """The body kept for ``key`` if no revision committed since it was rendered; else
    ``make``'s, kept for the next request. One statement per request when it is kept."""
    database, state = database_of(request), _state(request)
    marker = await read_marker(database)
    body = state.pages.get(marker, key)
    if body is None:
        made = await make(await state.checkpoints.at(database, marker.tree_size))
        if isinstance(made, Response):
            return made
        body = body_of(made)
        state.pages.put(marker, key, body)
    return cached(request, body, media_type, frame_ancestors=frame_ancestors)


_ERROR_TITLES = {
    400: "That request is not one we can answer",
    404: "No such fact-check",
    410: "This fact-check was withdrawn",
}


def error_page(request: Request, status: int, message: str) -> Response:
    """An HTML error page (the pages are for people; the API keeps problem+json)."""
    site = site_of(_settings(request))
    body = render.render_error(status, _ERROR_TITLES[status], message, site)
    headers = {"Content-Security-Policy": _CSP.format(ancestors="'self'")}
    return Response(body, status_code=status, media_type=HTML, headers=headers)


def _present(params: Any) -> dict[str, str]:
    """The query's parameters without the empty ones a form sends for "any"."""
    return {key: value for key, value in params.items() if value.strip()}


def _validation_message(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or 'query'}: {error['msg']}"
        for error in exc.errors()
    ]
    return "; ".join(problems)


@page_route("/")
async def index(request: Request) -> Response:
    try:
        query = queries.IndexQuery.model_validate(_present(request.query_params))
    except ValidationError as exc:
        return error_page(request, 400, _validation_message(exc))
    settings = _settings(request)

    async def make(checkpoint: CurrentCheckpoint | None) -> bytes | Response:
        try:
            page = await queries.list_fact_checks(
                database_of(request), query, limit=settings.pages_page_size
            )
        except errors.BadRequest as exc:  # a cursor this site did not write, a q without words
            return error_page(request, 400, exc.detail or "Bad request.")
        site = site_of(settings)
        body = await to_thread.run_sync(render.render_index, page, query, site, checkpoint)
        return body.encode()

    return await from_cache(request, ("index", request.url.query), HTML, make)


async def _fact_check(
    request: Request, claim_id: int, kind: str, draw: Any, *, frame_ancestors: str
) -> Response:
    """Read one fact-check, then draw it (``draw(fact_check, site, checkpoint)``) in the
    thread pool; the HTML 404 or 410 when it is not public."""
    settings = _settings(request)
    site = site_of(settings)

    async def make(checkpoint: CurrentCheckpoint | None) -> bytes | Response:
        try:
            found = await _read_fact_check(request, settings, site, claim_id)
        except errors.Gone:
            return error_page(
                request, 410, f"Fact-check {claim_id} was withdrawn and is no longer published."
            )
        except errors.NotFound:
            return _no_such_fact_check(request, claim_id)
        body: str = await to_thread.run_sync(draw, found, site, checkpoint)
        return body.encode()

    return await from_cache(request, (kind, claim_id), HTML, make, frame_ancestors=frame_ancestors)


async def _read_fact_check(
    request: Request, settings: Settings, site: Site, claim_id: int
) -> queries.FactCheck:
    """The fact-check as its page, its embed card and its oEmbed answer show it."""
    return await queries.fact_check(
        database_of(request),
        claim_id,
        organization=_organization(settings),
        page_url=site.claim_url(claim_id),
    )


def _organization(settings: Settings) -> dict[str, str]:
    return {"name": settings.organization_name, "url": settings.organization_url}


def _no_such_fact_check(request: Request, claim_id: object) -> Response:
    return error_page(
        request, 404, f"There is no published fact-check {claim_id}. It may not be rated yet."
    )


def _claim_id(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and 0 < len(value) <= 10 else None


@page_route("/claims/{claim_id}")
async def fact_check_page(request: Request, claim_id: str) -> Response:
    number = _claim_id(claim_id)
    if number is None or number > 2**31 - 1:
        return _no_such_fact_check(request, claim_id)
    return await _fact_check(
        request, number, "claim", render.render_fact_check, frame_ancestors="'self'"
    )


@page_route("/embed/claims/{claim_id}")
async def embed_card(request: Request, claim_id: str) -> Response:
    number = _claim_id(claim_id)
    if number is None or number > 2**31 - 1:
        return _no_such_fact_check(request, claim_id)
    ancestors = _settings(request).pages_frame_ancestors
    return await _fact_check(
        request, number, "embed", render.render_embed, frame_ancestors=ancestors
    )


@page_route("/oembed")
async def oembed(request: Request) -> Response:
    """oEmbed 1.0 (https://oembed.com): the ``rich`` type for a fact-check's URL. 404 for a
    URL that is not a published fact-check of this site, 501 for a format other than json;
    400 (problem+json) for a missing url or a bad maxwidth/maxheight."""
    params = request.query_params
    fmt = params.get("format", "json")
    if fmt != "json":
        return problem_response(
            501, slug="oembed-format", detail="Only format=json is offered.", request=request
        )
    settings = _settings(request)
    site = site_of(settings)
    sizes: dict[str, int | None] = {}
    for name in ("maxwidth", "maxheight"):
        value = params.get(name)
        if value is not None and not (value.isdigit() and 0 < int(value) < 100_000):
            return problem_response(
                400, slug="bad-request", detail=f"{name} must be a positive whole number."
            )
        sizes[name] = int(value) if value else None
    url = params.get("url")
    if not url:
        return problem_response(400, slug="bad-request", detail="The url parameter is missing.")
    claim_id = _claim_of_url(url, site)
    if claim_id is None:
        return problem_response(
            404, slug="not-found", detail="The url is not a fact-check page of this site."
        )

    async def make(_checkpoint: CurrentCheckpoint | None) -> bytes | Response:
        try:
            found = await _read_fact_check(request, settings, site, claim_id)
        except (errors.NotFound, errors.Gone):
            return problem_response(
                404, slug="not-found", detail=f"No published fact-check {claim_id}."
            )
        width, height = sizes["maxwidth"], sizes["maxheight"]
        return orjson.dumps(render.oembed(found, site, maxwidth=width, maxheight=height))

    key = ("oembed", claim_id, sizes["maxwidth"], sizes["maxheight"])
    return await from_cache(request, key, "application/json", make)


def _claim_of_url(url: str, site: Site) -> int | None:
    parts, base = urlsplit(url), urlsplit(site.base_url)
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
        return None
    path = parts.path.removeprefix(base.path.rstrip("/"))
    found = _CLAIM_PATH.fullmatch(path) or (
        _CLAIM_PATH.fullmatch(path.removeprefix("/embed")) if path.startswith("/embed/") else None
    )
    if found is None or int(found.group(1)) > 2**31 - 1:
        return None
    return int(found.group(1))


@page_route(render.FEED_PATH)
async def atom_feed(request: Request) -> Response:
    """The latest verdicts as Atom 1.0; a bad filter answers 400 problem+json naming it."""
    try:
        query = queries.FeedQuery.model_validate(_present(request.query_params))
    except ValidationError as exc:
        return problem_response(
            400, slug="bad-filter", detail=_validation_message(exc), request=request
        )
    settings = _settings(request)

    async def make(checkpoint: CurrentCheckpoint | None) -> bytes:
        page = await queries.list_fact_checks(
            database_of(request), query, limit=settings.pages_feed_size
        )
        site = site_of(settings)
        return await to_thread.run_sync(feed.atom_feed, page.claims, query, site, checkpoint)

    return await from_cache(request, ("feed", request.url.query), ATOM, make)


_STYLESHEET = body_of(files("app.pages").joinpath("static/pages.css").read_bytes())


@page_route(render.STYLESHEET_PATH)
async def stylesheet(request: Request) -> Response:
    return cached(request, _STYLESHEET, "text/css; charset=utf-8")


async def _checkpoint(request: Request) -> CurrentCheckpoint | None:
    database = database_of(request)
    marker = await read_marker(database)
    return await _state(request).checkpoints.at(database, marker.tree_size)


_NO_CHECKPOINT = "This site publishes no checkpoint: the server has no checkpoint signing key."


@page_route(render.CHECKPOINT_PATH)
async def checkpoint_note(request: Request) -> Response:
    """The transparency log's checkpoint the pages show, as its C2SP signed note: anyone may
    keep it and check it with the verifier key (``claimtracker checkpoint fetch`` does). It
    trails the newest revision by up to the appender's interval. 404 without a signing key."""
    checkpoint = await _checkpoint(request)
    if checkpoint is None:
        return problem_response(404, slug="not-found", detail=_NO_CHECKPOINT)
    return cached(request, body_of(checkpoint.signed_note.encode()), TEXT)


@page_route(render.CHECKPOINT_KEY_PATH)
async def checkpoint_key(request: Request) -> Response:
    """The note verifier key that checks the checkpoints; 404 without a signing key."""
    checkpoint = await _checkpoint(request)
    if checkpoint is None:
        return problem_response(404, slug="not-found", detail=_NO_CHECKPOINT)
    return cached(request, body_of(f"{checkpoint.verifier_key}\n".encode()), TEXT)
