"""HTTP for speakers: parse, call the service, shape the response."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.auth.dependencies import READER
from app.core.base import Page
from app.history.models import EntityType
from app.history.views import add_tracked_routes
from app.speakers import service
from app.speakers.models import Speaker, SpeakerCreate, SpeakerPublic, SpeakerQuery, SpeakerUpdate
from app.web.openapi import KEYED, LINK, PARAMS, ok, responses
from app.web.reads import run_read

router = APIRouter(prefix="/speakers", tags=["speakers"])


@router.get(
    "",
    response_model=Page[SpeakerPublic],
    summary="List speakers",
    responses=responses(KEYED, PARAMS, ok=ok(Link=LINK)),
    dependencies=[READER],
)
async def list_speakers(request: Request, query: Annotated[SpeakerQuery, Query()]) -> Response:
    rows, next_cursor = await run_read(request, lambda conn: service.list_speakers(conn, query))
    return service.ROWS.page_response(request.url, rows, next_cursor)


add_tracked_routes(
    router,
    noun="speaker",
    entity_type=EntityType.speaker,
    model=Speaker,
    public_model=SpeakerPublic,
    create_model=SpeakerCreate,
    update_model=SpeakerUpdate,
    service=service.SPEAKERS.writes,
)
