"""HTTP for sources: parse, call the service, shape the response."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.auth.dependencies import READER
from app.core.base import Page
from app.history.models import EntityType
from app.history.views import add_tracked_routes
from app.sources import service
from app.sources.models import Source, SourceCreate, SourcePublic, SourceQuery, SourceUpdate
from app.web.openapi import KEYED, LINK, PARAMS, ok, responses
from app.web.reads import run_read

router = APIRouter(prefix="/sources", tags=["sources"])


@router.get(
    "",
    response_model=Page[SourcePublic],
    summary="List sources",
    responses=responses(KEYED, PARAMS, ok=ok(Link=LINK)),
    dependencies=[READER],
)
async def list_sources(request: Request, query: Annotated[SourceQuery, Query()]) -> Response:
    rows, next_cursor = await run_read(request, lambda conn: service.list_sources(conn, query))
    return service.ROWS.page_response(request.url, rows, next_cursor)


add_tracked_routes(
    router,
    noun="source",
    entity_type=EntityType.source,
    model=Source,
    public_model=SourcePublic,
    create_model=SourceCreate,
    update_model=SourceUpdate,
    service=service.SOURCES.writes,
)
