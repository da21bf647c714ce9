"""HTTP for outlets: parse, call the service, shape the response."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlmodel import Session
from starlette.responses import Response

from app.auth.dependencies import READER, CheckerActor, EditorActor
from app.core.base import Page
from app.history.models import EntityType
from app.history.router import history_routes
from app.history.schemas import ReasonIn, RevertIn
from app.outlets import service
from app.outlets.models import Outlet, OutletCreate, OutletPublic, OutletQuery, OutletUpdate
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

router = APIRouter(prefix="/outlets", tags=["outlets"])
OUTLETS = service.OUTLETS
WRITTEN = ok(ETag=ETAG)


def _outlet(outlet: Outlet, status_code: int = 200) -> Response:
    """The outlet with its ETag (and, when just created, its Location)."""
    headers = {"Location": f"/api/v1/outlets/{outlet.id}"} if status_code == 201 else None
    return resource_response(
        OutletPublic.model_validate(outlet),
        version=outlet.version,
        status_code=status_code,
        headers=headers,
    )


@router.get(
    "",
    response_model=Page[OutletPublic],
    summary="List outlets",
    responses=responses(KEYED, PARAMS, ok=ok(Link=LINK)),
    dependencies=[READER],
)
async def list_outlets(request: Request, query: Annotated[OutletQuery, Query()]) -> Response:
    rows, next_cursor = await service.list_outlets(database_of(request), query)
    return rows_page_response(service.ROWS, request.url, rows, next_cursor)


@router.post(
    "",
    status_code=201,
    response_model=OutletPublic,
    summary="Create a outlet",
    responses=responses(ROLE, BODY, 409, ok=ok(201, ETag=ETAG, Location=LOCATION)),
)
async def create_outlet(database: DatabaseDep, actor: CheckerActor, body: OutletCreate) -> Response:
    def write(session: Session) -> Response:
        return _outlet(OUTLETS.create(session, body, actor=actor), 201)

    return await database.write(write)


@router.get(
    "/{entity_id}",
    response_model=OutletPublic,
    summary="Read a outlet, now or as of a version or moment",
    responses=responses(KEYED, ENTITY, PARAMS, ok=WRITTEN),
    dependencies=[READER],
)
async def read_outlet(request: Request, entity_id: EntityId, as_of: AsOf = None) -> Response:
    return await database_of(request).read(
        lambda conn: entity_response(
            conn,
            Outlet,
            entity_id,
            public_model=OutletPublic,
            entity_type=EntityType.outlet,
            as_of=as_of,
        )
    )


@router.patch(
    "/{entity_id}",
    response_model=OutletPublic,
    summary="Change a outlet (If-Match required)",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=WRITTEN),
)
async def update_outlet(
    database: DatabaseDep,
    actor: CheckerActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: OutletUpdate,
    reason: OptionalReasonQuery = None,
) -> Response:
    def write(session: Session) -> Response:
        outlet = OUTLETS.update(session, entity_id, body, expect=expect, actor=actor, reason=reason)
        return _outlet(outlet)

    return await database.write(write)


@router.delete(
    "/{entity_id}",
    response_model=OutletPublic,
    summary="Delete a outlet (soft; reason required)",
    responses=responses(ROLE, ENTITY, IF_MATCH, PARAMS, 409, ok=WRITTEN),
)
async def delete_outlet(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    reason: ReasonQuery,
) -> Response:
    def write(session: Session) -> Response:
        return _outlet(
            OUTLETS.delete(session, entity_id, expect=expect, actor=actor, reason=reason)
        )

    return await database.write(write)


@router.post(
    "/{entity_id}/restore",
    response_model=OutletPublic,
    summary="Undo the delete of a outlet",
    responses=responses(ROLE, BODY, 404, IF_MATCH, 409, ok=WRITTEN),
)
async def restore_outlet(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: ReasonIn,
) -> Response:
    def write(session: Session) -> Response:
        outlet = OUTLETS.restore(session, entity_id, expect=expect, actor=actor, reason=body.reason)
        return _outlet(outlet)

    return await database.write(write)


@router.post(
    "/{entity_id}/revert",
    response_model=OutletPublic,
    summary="Bring back an earlier version of a outlet",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=WRITTEN),
)
async def revert_outlet(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: RevertIn,
) -> Response:
    def write(session: Session) -> Response:
        outlet = OUTLETS.revert(
            session, entity_id, body.to_version, expect=expect, actor=actor, reason=body.reason
        )
        return _outlet(outlet)

    return await database.write(write)


router.include_router(history_routes(EntityType.outlet, "outlet"))
