"""HTTP for sources: parse, call the service, shape the response."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlmodel import Session
from starlette.responses import Response

from app.auth.dependencies import READER, CheckerActor, EditorActor
from app.core.base import Page
from app.history.models import EntityType
from app.history.router import history_routes
from app.history.schemas import ReasonIn, RevertIn
from app.sources import service
from app.sources.models import Source, SourceCreate, SourcePublic, SourceQuery, SourceUpdate
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

router = APIRouter(prefix="/sources", tags=["sources"])
SOURCES = service.SOURCES
WRITTEN = ok(ETag=ETAG)


def _source(source: Source, status_code: int = 200) -> Response:
    """The source with its ETag (and, when just created, its Location)."""
    headers = {"Location": f"/api/v1/sources/{source.id}"} if status_code == 201 else None
    return resource_response(
        SourcePublic.model_validate(source),
        version=source.version,
        status_code=status_code,
        headers=headers,
    )


@router.get(
    "",
    response_model=Page[SourcePublic],
    summary="List sources",
    responses=responses(KEYED, PARAMS, ok=ok(Link=LINK)),
    dependencies=[READER],
)
async def list_sources(request: Request, query: Annotated[SourceQuery, Query()]) -> Response:
    rows, next_cursor = await service.list_sources(database_of(request), query)
    return rows_page_response(service.ROWS, request.url, rows, next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=SourcePublic,
    summary="Create a source",
    responses=responses(ROLE, BODY, 409, ok=ok(201, ETag=ETAG, Location=LOCATION)),
)
async def create_source(database: DatabaseDep, actor: CheckerActor, body: SourceCreate) -> Response:
    def write(session: Session) -> Response:
        return _source(SOURCES.create(session, body, actor=actor), 201)

    return await database.write(write)


@router.get(
    "/{entity_id}",
    response_model=SourcePublic,
    summary="Read a source, now or as of a version or moment",
    responses=responses(KEYED, ENTITY, PARAMS, ok=WRITTEN),
    dependencies=[READER],
)
async def read_source(request: Request, entity_id: EntityId, as_of: AsOf = None) -> Response:
    return await database_of(request).read(
        lambda conn: entity_response(
            conn,
            Source,
            entity_id,
            public_model=SourcePublic,
            entity_type=EntityType.source,
            as_of=as_of,
        )
    )


@router.patch(
    "/{entity_id}",
    response_model=SourcePublic,
    summary="Change a source (If-Match required)",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=WRITTEN),
)
async def update_source(
    database: DatabaseDep,
    actor: CheckerActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: SourceUpdate,
    reason: OptionalReasonQuery = None,
) -> Response:
    def write(session: Session) -> Response:
        source = SOURCES.update(session, entity_id, body, expect=expect, actor=actor, reason=reason)
        return _source(source)

    return await database.write(write)


@router.delete(
    "/{entity_id}",
    response_model=SourcePublic,
    summary="Delete a source (soft; reason required)",
    responses=responses(ROLE, ENTITY, IF_MATCH, PARAMS, 409, ok=WRITTEN),
)
async def delete_source(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    reason: ReasonQuery,
) -> Response:
    def write(session: Session) -> Response:
        return _source(
            SOURCES.delete(session, entity_id, expect=expect, actor=actor, reason=reason)
        )

    return await database.write(write)


@router.post(
    "/{entity_id}/restore",
    response_model=SourcePublic,
    summary="Undo the delete of a source",
    responses=responses(ROLE, BODY, 404, IF_MATCH, 409, ok=WRITTEN),
)
async def restore_source(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: ReasonIn,
) -> Response:
    def write(session: Session) -> Response:
        source = SOURCES.restore(session, entity_id, expect=expect, actor=actor, reason=body.reason)
        return _source(source)

    return await database.write(write)


@router.post(
    "/{entity_id}/revert",
    response_model=SourcePublic,
    summary="Bring back an earlier version of a source",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=WRITTEN),
)
async def revert_source(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: RevertIn,
) -> Response:
    def write(session: Session) -> Response:
        source = SOURCES.revert(
            session, entity_id, body.to_version, expect=expect, actor=actor, reason=body.reason
        )
        return _source(source)

    return await database.write(write)


router.include_router(history_routes(EntityType.source, "source"))
