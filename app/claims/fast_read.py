"""GET /api/v1/claims/{id} without FastAPI's per-request parameter machinery: the hottest read.

FastAPI's route (``app.claims.router.read_claim``) stays the contract: the OpenAPI document, the
validation of odd input, ``?as_of=``. In front of it sits this plain Starlette route, which
takes only the common case, a bare GET of a plausible id, and does exactly what the route does
(the same auth dependency, the same driver read, the same 404/410 rule, the same response),
without solving dependencies and validating parameters through pydantic: that machinery was
about 40% of the server's CPU for this request (cProfile). Anything else — a query string, an
id that is not plain ASCII digits in range — goes to FastAPI's route unchanged. Errors raised
here are the app's own exceptions and reach its handlers as they would from the route.
"""

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from app.auth.actor import Role
from app.auth.dependencies import require
from app.claims import queries
from app.tracked.lookup import require_present
from app.vocabulary.types import MAX_ID
from app.web.dependencies import database_of
from app.web.responses import row_response

_READER = require(Role.reader)
MAX_ID_DIGITS = len(str(MAX_ID))


class ClaimByIdFastRead(Route):
    """A route that matches only the common case; anything else is left to FastAPI's route
    for the same path, which comes after it."""

    # The role FastAPI's route declares for the same path (tests/auth compares the two).
    requirement = _READER

    def __init__(self, path: str) -> None:
        super().__init__(path, self.read, methods=["GET"], include_in_schema=False)
        self.methods = {"GET"}  # not the HEAD Starlette adds: FastAPI's route has none

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        # GET only (Starlette would add HEAD, which FastAPI's route does not answer).
        if match is not Match.FULL or scope["method"] != "GET" or scope["query_string"]:
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
        return match, child_scope

    @staticmethod
    async def read(request: Request) -> Response:
        entity_id = int(request.path_params["entity_id"])
        await ClaimByIdFastRead.requirement(request)  # 401/403/429 as the route's dependency
        row = await queries.ROWS.fetch_by_id(database_of(request), entity_id)
        found = require_present(
            row, "claim", entity_id, deleted_at=row["deleted_at"] if row is not None else None
        )
        return row_response(queries.ROWS, found)


def install_fast_read(app: FastAPI, path: str) -> None:
    """Put the fast route for GET ``path`` in front of every other route."""
    app.router.routes.insert(0, ClaimByIdFastRead(path))
