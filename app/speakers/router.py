"""HTTP for speakers: parse, call the service, shape the response."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlmodel import Session
from starlette.responses import Response

from app.auth.dependencies import READER, CheckerActor, EditorActor
from app.core.base import Page
from app.history.models import EntityType
from app.history.router import history_routes
from app.history.schemas import ReasonIn, RevertIn
from app.speakers import service
from app.speakers.models import Speaker, SpeakerCreate, SpeakerPublic, SpeakerQuery, SpeakerUpdate
from app.web.dependencies import (
    AsOf,
    DatabaseDep,
    EntityId,
    OptionalReasonQuery,
    ReasonQuery,
    database_of,
)
from app.web.openapi import (
    BODY,
    ENTITY,
    ETAG,
    IF_MATCH,
    KEYED,
    LINK,
    LOCATION,
    PARAMS,
    ROLE,
    ok,
    responses,
)
from app.web.preconditions import ExpectDep
from app.web.reads import entity_response
from app.web.responses import resource_response, rows_page_response

router = APIRouter(prefix="/speakers", tags=["speakers"])
SPEAKERS = service.SPEAKERS
WRITTEN = ok(ETag=ETAG)


def _speaker(speaker: Speaker, status_code: int = 200) -> Response:
    """The speaker with its ETag (and, when just created, its Location)."""
    headers = {"Location": f"/api/v1/speakers/{speaker.id}"} if status_code == 201 else None
    return resource_response(
        SpeakerPublic.model_validate(speaker),
        version=speaker.version,
        status_code=status_code,
        headers=headers,
    )


@router.get(
    "",
    response_model=Page[SpeakerPublic],
    summary="List speakers",
    responses=responses(KEYED, PARAMS, ok=ok(Link=LINK)),
    dependencies=[READER],
)
async def list_speakers(request: Request, query: Annotated[SpeakerQuery, Query()]) -> Response:
    rows, next_cursor = await service.list_speakers(database_of(request), query)
    return rows_page_response(service.ROWS, request.url, rows, next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=SpeakerPublic,
    summary="Create a speaker",
    responses=responses(ROLE, BODY, 409, ok=ok(201, ETag=ETAG, Location=LOCATION)),
)
async def create_speaker(
    database: DatabaseDep, actor: CheckerActor, body: SpeakerCreate
) -> Response:
    def write(session: Session) -> Response:
        return _speaker(SPEAKERS.create(session, body, actor=actor), 201)

    return await database.write(write)


@router.get(
    "/{entity_id}",
    response_model=SpeakerPublic,
    summary="Read a speaker, now or as of a version or moment",
    responses=responses(KEYED, ENTITY, PARAMS, ok=WRITTEN),
    dependencies=[READER],
)
async def read_speaker(request: Request, entity_id: EntityId, as_of: AsOf = None) -> Response:
    return await database_of(request).read(
        lambda conn: entity_response(
            conn,
            Speaker,
            entity_id,
            public_model=SpeakerPublic,
            entity_type=EntityType.speaker,
            as_of=as_of,
        )
    )


@router.patch(
    "/{entity_id}",
    response_model=SpeakerPublic,
    summary="Change a speaker (If-Match required)",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=WRITTEN),
)
async def update_speaker(
    database: DatabaseDep,
    actor: CheckerActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: SpeakerUpdate,
    reason: OptionalReasonQuery = None,
) -> Response:
    def write(session: Session) -> Response:
        speaker = SPEAKERS.update(
            session, entity_id, body, expect=expect, actor=actor, reason=reason
        )
        return _speaker(speaker)

    return await database.write(write)


@router.delete(
    "/{entity_id}",
    response_model=SpeakerPublic,
    summary="Delete a speaker (soft; reason required)",
    responses=responses(ROLE, ENTITY, IF_MATCH, PARAMS, 409, ok=WRITTEN),
)
async def delete_speaker(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    reason: ReasonQuery,
) -> Response:
    def write(session: Session) -> Response:
        return _speaker(
            SPEAKERS.delete(session, entity_id, expect=expect, actor=actor, reason=reason)
        )

    return await database.write(write)


@router.post(
    "/{entity_id}/restore",
    response_model=SpeakerPublic,
    summary="Undo the delete of a speaker",
    responses=responses(ROLE, BODY, 404, IF_MATCH, 409, ok=WRITTEN),
)
async def restore_speaker(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: ReasonIn,
) -> Response:
    def write(session: Session) -> Response:
        speaker = SPEAKERS.restore(
            session, entity_id, expect=expect, actor=actor, reason=body.reason
        )
        return _speaker(speaker)

    return await database.write(write)


@router.post(
    "/{entity_id}/revert",
    response_model=SpeakerPublic,
    summary="Bring back an earlier version of a speaker",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=WRITTEN),
)
async def revert_speaker(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: RevertIn,
) -> Response:
    def write(session: Session) -> Response:
        speaker = SPEAKERS.revert(
            session, entity_id, body.to_version, expect=expect, actor=actor, reason=body.reason
        )
        return _speaker(speaker)

    return await database.write(write)


router.include_router(history_routes(EntityType.speaker, "speaker"))
