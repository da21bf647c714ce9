"""GET /api/v1/claims/{id} and GET /api/v1/claims without FastAPI's per-request parameter
machinery: the hottest reads.

FastAPI's route (``app.claims.router.read_claim``) stays the contract: the OpenAPI document, the
validation of odd input, ``?as_of=``. In front of it sits this plain Starlette route, which
takes only the common case, a GET of a plausible id (bare, or with one valid ``expand``), and
does exactly what the route does (the same auth dependency, the same driver read, the same
404/410 rule, the same response: ``claim_response``), without solving dependencies and
validating parameters through pydantic: that machinery was about 40% of the server's CPU for
this request (cProfile). Anything else — another query string, an id that is not plain ASCII
digits in range — goes to FastAPI's route unchanged. Errors raised here are the app's own
exceptions and reach its handlers as they would from the route.

The list's route validates its query string as one ``ClaimListQuery`` model; FastAPI rebuilt that
model's input field by field on every request (a third of the server's CPU for a page of 50,
cProfile). The fast list route validates the same model from the query string directly, and
takes only a query string it can read unambiguously: known parameters, each once, that
validate. Anything else (an unknown or repeated parameter, a value the model refuses) goes to
FastAPI's route, which answers it (or its 422) as before. The page and its response are the
route's own too (``claims_page_response``), ``expand`` included.
"""

from urllib.parse import parse_qsl

from fastapi import FastAPI
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from app.auth.actor import Role
from app.auth.dependencies import require
from app.claims import queries
from app.claims.expand import expand_claim, expand_claims
from app.claims.models import ClaimExpand, ClaimListQuery, expansions
from app.matching.router import refuse_merged
from app.tracked.lookup import require_present
from app.vocabulary.types import MAX_ID
from app.web.dependencies import database_of
from app.web.responses import (
    item_response,
    items_page_response,
    row_response,
    rows_page_response,
)

_READER = require(Role.reader)
MAX_ID_DIGITS = len(str(MAX_ID))


class FastRead(Route):
    """A GET route that matches only the common case of FastAPI's route for the same path,
    which comes after it and takes anything else."""

    # The role FastAPI's route declares for the same path (tests/auth compares the two).
    requirement = _READER

    def __init__(self, path: str) -> None:
        super().__init__(path, self.read, methods=["GET"], include_in_schema=False)
        self.methods = {"GET"}  # not the HEAD Starlette adds: FastAPI's route has none

    @staticmethod
    async def read(request: Request) -> Response:
        raise NotImplementedError


async def claim_response(request: Request, entity_id: int, kinds: frozenset[str]) -> Response:
    """GET /claims/{id} (not as of): the claim with its ETag, ``kinds`` expanded."""
    database = database_of(request)
    # The hottest read: driver SQL, the row straight to JSON.
    row = await queries.ROWS.fetch_by_id(database, entity_id)
    if row is not None and row["deleted_at"] is not None:
        await refuse_merged(database, entity_id, row["deleted_at"])  # 410 with rel=canonical
    found = require_present(
        row, "claim", entity_id, deleted_at=row["deleted_at"] if row is not None else None
    )
    if not kinds:
        return row_response(queries.ROWS, found)
    claim = queries.ROWS.as_json_ready(found)
    await expand_claim(database, claim, kinds)
    return item_response(claim)


async def claims_page_response(request: Request, query: ClaimListQuery) -> Response:
    """GET /claims: a page of claims, each with the references ``query.expand`` names."""
    database = database_of(request)
    rows, next_cursor = await queries.list_claims(database, query)
    if not query.expand:
        return rows_page_response(queries.ROWS, request.url, rows, next_cursor)
    claims = queries.ROWS.as_dicts(rows)
    await expand_claims(database, claims, expansions(query.expand))
    return items_page_response(request.url, claims, next_cursor)


EXPAND_KEY = "claims_fast_expand"
_CLAIM_EXPAND: TypeAdapter[list[str]] = TypeAdapter(ClaimExpand)


def _claim_expand(query_string: bytes) -> frozenset[str] | None:
    """What a by-id query string of exactly one valid ``expand`` asks for (an empty query
    string: nothing); None sends the request to FastAPI's route."""
    if not query_string:
        return frozenset()
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "expand":
        return None
    try:
        return expansions(_CLAIM_EXPAND.validate_python(pairs[0][1]))
    except ValidationError:
        return None


class ClaimByIdFastRead(FastRead):
    """A GET of a plausible id, bare or with a valid ``expand``."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        # GET only (Starlette would add HEAD, which FastAPI's route does not answer).
        if match is not Match.FULL or scope["method"] != "GET":
            return Match.NONE, {}
        kinds = _claim_expand(scope["query_string"])
        if kinds is None:
            return Match.NONE, {}
        raw_id: str = child_scope["path_params"]["entity_id"]
        # Length first: int() refuses a string of thousands of digits with a ValueError.
        if not (
            raw_id.isascii()
            and raw_id.isdigit()
            and len(raw_id) <= MAX_ID_DIGITS
            and 1 <= int(raw_id) <= MAX_ID
        ):
            return Match.NONE, {}
        # FastAPI's router names only its own routes in the scope: the request's log line and
        # metrics take the route (its template) from here.
        child_scope["route"] = self
        child_scope[EXPAND_KEY] = kinds
        return match, child_scope

    @staticmethod
    async def read(request: Request) -> Response:
        entity_id = int(request.path_params["entity_id"])
        await ClaimByIdFastRead.requirement(request)  # 401/403/429 as the route's dependency
        return await claim_response(request, entity_id, request.scope[EXPAND_KEY])


QUERY_KEY = "claims_fast_query"
_QUERY_FIELDS = frozenset(ClaimListQuery.model_fields)


def _claim_query(query_string: bytes) -> ClaimListQuery | None:
    """The list's parameters, if the query string reads unambiguously and validates (decoded
    as Starlette decodes it for FastAPI's route); None sends the request to that route."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    values = dict(pairs)
    if len(values) != len(pairs) or not values.keys() <= _QUERY_FIELDS:
        return None
    try:
        return ClaimListQuery.model_validate(values)
    except ValidationError:
        return None


class ClaimListFastRead(FastRead):
    """GET /claims with a query string of the list's own parameters that validate."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.FULL or scope["method"] != "GET":
            return Match.NONE, {}
        query = _claim_query(scope["query_string"])
        if query is None:
            return Match.NONE, {}
        # Named in the scope as the by-id route names itself: the log line takes its template.
        return match, {**child_scope, QUERY_KEY: query, "route": self}

    @staticmethod
    async def read(request: Request) -> Response:
        await ClaimListFastRead.requirement(request)  # 401/403/429 as the route's dependency
        return await claims_page_response(request, request.scope[QUERY_KEY])


def install_fast_read(app: FastAPI, claims_path: str) -> None:
    """Put the fast routes for GET ``claims_path`` and GET ``claims_path/{id}`` in front of
    every other route."""
    app.router.routes[0:0] = [
        ClaimByIdFastRead(f"{claims_path}/{{entity_id}}"),
        ClaimListFastRead(claims_path),
    ]
