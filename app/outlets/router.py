"""HTTP for outlets: parse, call the service, shape the response."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.auth.dependencies import READER
from app.core.base import Page
from app.history.models import EntityType
from app.history.views import add_tracked_routes
from app.outlets import service
from app.outlets.models import Outlet, OutletCreate, OutletPublic, OutletQuery, OutletUpdate
from app.web.openapi import KEYED, LINK, PARAMS, ok, responses
from app.web.reads import run_read

router = APIRouter(prefix="/outlets", tags=["outlets"])


@router.get(
    "",
    response_model=Page[OutletPublic],
    summary="List outlets",
    responses=responses(KEYED, PARAMS, ok=ok(Link=LINK)),
    dependencies=[READER],
)
async def list_outlets(request: Request, query: Annotated[OutletQuery, Query()]) -> Response:
    rows, next_cursor = await run_read(request, lambda conn: service.list_outlets(conn, query))
    return service.ROWS.page_response(request.url, rows, next_cursor)


add_tracked_routes(
    router,
    noun="outlet",
    entity_type=EntityType.outlet,
    model=Outlet,
    public_model=OutletPublic,
    create_model=OutletCreate,
    update_model=OutletUpdate,
    service=service.OUTLETS.writes,
)
