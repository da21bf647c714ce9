"""HTTP for claims, their status, evidence and appearances: parse, call the service, render.

Reads answer from the database's rows (the list and GET by id build no models); writes are
plain ``def`` handlers on a write session. Every write answers the claim's new ETag; evidence
and appearances are versioned with their claim, so their ETag is the claim's.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.auth.dependencies import READER, CheckerActor, EditorActor
from app.claims import parts, queries, service
from app.claims.dependencies import CurrentClaim
from app.claims.models import (
    AppearanceCreate,
    AppearancePublic,
    Claim,
    ClaimAsOf,
    ClaimCreate,
    ClaimPublic,
    ClaimQuery,
    ClaimUpdate,
    EvidenceCreate,
    EvidencePublic,
    EvidenceUpdate,
    StatusChange,
)
from app.core import errors
from app.core.base import MAX_ID, Page
from app.core.db import Database, SessionDep, WriteSessionDep, database_of
from app.history.models import EntityType
from app.history.schemas import Reason, ReasonIn, RevertIn
from app.history.tracked import get_entity
from app.history.views import AsOf, EntityId, add_history_routes, as_of_response
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
from app.web.preconditions import ExpectDep, OptionalExpectDep
from app.web.reads import run_driver_read, run_read
from app.web.responses import page_response, resource_response

router = APIRouter(prefix="/claims", tags=["claims"])
PartId = Annotated[int, Path(ge=1, le=MAX_ID)]
ReasonQuery = Annotated[Reason, Query(description="Why, for the history (required).")]
OptionalReasonQuery = Annotated[Reason | None, Query(description="Why, for the history.")]


def _claim_response(claim: Claim, status_code: int = 200) -> Response:
    headers = {"Location": f"/api/v1/claims/{claim.id}"} if status_code == 201 else None
    return resource_response(
        ClaimPublic.model_validate(claim),
        version=claim.version,
        status_code=status_code,
        headers=headers,
    )


# --- claims -------------------------------------------------------------------------------------


@router.get(
    "",
    response_model=Page[ClaimPublic],
    summary="List and search claims",
    responses=responses(KEYED, PARAMS, ok=ok(Link=LINK)),
    dependencies=[READER],
)
async def list_claims(request: Request, query: Annotated[ClaimQuery, Query()]) -> Response:
    rows, next_cursor = await run_read(request, lambda conn: queries.list_claims(conn, query))
    return queries.ROWS.page_response(request.url, rows, next_cursor)


def _claim_as_of(database: Database, entity_id: int, as_of: str) -> Response:
    with database.session() as session:
        claim = get_entity(session, Claim, entity_id, allow_deleted=True)
        return as_of_response(
            session, claim, entity_type=EntityType.claim, as_of=as_of, public_model=ClaimAsOf
        )


@router.get(
    "/{entity_id}",
    response_model=ClaimPublic,
    summary="Read a claim, now or as of a version or moment",
    responses={
        **responses(KEYED, ENTITY, PARAMS),
        200: {
            "model": ClaimAsOf,
            "description": "The claim; with as_of, as it was then, with its evidence and "
            "appearances (and no ETag: it is not the current version)",
            "headers": {"ETag": ETAG},
        },
    },
    dependencies=[READER],
)
async def read_claim(request: Request, entity_id: EntityId, as_of: AsOf = None) -> Response:
    if as_of is not None:
        return await run_in_threadpool(_claim_as_of, database_of(request), entity_id, as_of)
    row = await run_driver_read(
        request, lambda database: queries.ROWS.fetch_by_id(database, entity_id)
    )
    if row is None:
        raise errors.NotFound(f"No claim with id {entity_id}.")
    if row["deleted_at"] is not None:
        raise errors.Gone(
            f"claim {entity_id} was deleted; its history is still readable.",
            deleted_at=str(row["deleted_at"]),
        )
    return queries.ROWS.mapping_response(row)


@router.post(
    "",
    status_code=201,
    response_model=ClaimPublic,
    summary="Create a claim",
    responses=responses(ROLE, BODY, 409, ok=ok(201, ETag=ETAG, Location=LOCATION)),
)
def create_claim(session: WriteSessionDep, actor: CheckerActor, body: ClaimCreate) -> Response:
    return _claim_response(service.create_claim(session, body, actor=actor), 201)


@router.patch(
    "/{entity_id}",
    response_model=ClaimPublic,
    summary="Change a claim (If-Match required)",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=ok(ETag=ETAG)),
)
def update_claim(
    session: WriteSessionDep,
    actor: CheckerActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: ClaimUpdate,
    reason: OptionalReasonQuery = None,
) -> Response:
    claim = service.update_claim(
        session, entity_id, body, expect=expect, actor=actor, reason=reason
    )
    return _claim_response(claim)


@router.delete(
    "/{entity_id}",
    response_model=ClaimPublic,
    summary="Delete a claim (soft; reason required)",
    responses=responses(ROLE, ENTITY, IF_MATCH, PARAMS, 409, ok=ok(ETag=ETAG)),
)
def delete_claim(
    session: WriteSessionDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    reason: ReasonQuery,
) -> Response:
    claim = service.delete_claim(session, entity_id, expect=expect, actor=actor, reason=reason)
    return _claim_response(claim)


@router.post(
    "/{entity_id}/restore",
    response_model=ClaimPublic,
    summary="Undo the delete of a claim",
    responses=responses(ROLE, BODY, 404, IF_MATCH, 409, ok=ok(ETag=ETAG)),
)
def restore_claim(
    session: WriteSessionDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: ReasonIn,
) -> Response:
    claim = service.restore_claim(
        session, entity_id, expect=expect, actor=actor, reason=body.reason
    )
    return _claim_response(claim)


@router.post(
    "/{entity_id}/revert",
    response_model=ClaimPublic,
    summary="Bring back an earlier version of a claim",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=ok(ETag=ETAG)),
)
def revert_claim(
    session: WriteSessionDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: RevertIn,
) -> Response:
    claim = service.revert_claim(
        session, entity_id, body.to_version, expect=expect, actor=actor, reason=body.reason
    )
    return _claim_response(claim)


add_history_routes(router, entity_type=EntityType.claim, noun="claim")


@router.post(
    "/{entity_id}/status",
    response_model=ClaimPublic,
    summary="Set the verdict or move the review (reason required)",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=ok(ETag=ETAG)),
)
def change_status(
    session: WriteSessionDep,
    actor: CheckerActor,
    expect: ExpectDep,
    entity_id: EntityId,
    change: StatusChange,
) -> Response:
    claim = service.set_status(session, entity_id, change, expect=expect, actor=actor)
    return resource_response(ClaimPublic.model_validate(claim), version=claim.version)


# --- evidence -----------------------------------------------------------------------------------


@router.get(
    "/{entity_id}/evidence",
    response_model=Page[EvidencePublic],
    summary="List evidence",
    responses=responses(KEYED, ENTITY, PARAMS),
    dependencies=[READER],
)
def list_evidence(request: Request, session: SessionDep, claim: CurrentClaim) -> Response:
    assert claim.id is not None
    items = queries.list_evidence(session, claim.id)
    return page_response(request.url, EvidencePublic, items, None)


@router.post(
    "/{entity_id}/evidence",
    status_code=201,
    response_model=EvidencePublic,
    summary="Add evidence (a new claim version)",
    responses=responses(ROLE, BODY, ENTITY, 412, 409, ok=ok(201, ETag=ETAG, Location=LOCATION)),
)
def add_evidence(
    session: WriteSessionDep,
    actor: CheckerActor,
    expect: OptionalExpectDep,
    entity_id: EntityId,
    evidence_in: EvidenceCreate,
    reason: OptionalReasonQuery = None,
) -> Response:
    claim, evidence = parts.add_evidence(
        session, entity_id, evidence_in, expect=expect, actor=actor, reason=reason
    )
    return resource_response(
        EvidencePublic.model_validate(evidence),
        version=claim.version,
        status_code=201,
        headers={"Location": f"/api/v1/claims/{entity_id}/evidence/{evidence.id}"},
    )


@router.patch(
    "/{entity_id}/evidence/{evidence_id}",
    response_model=EvidencePublic,
    summary="Change evidence (If-Match: the claim's ETag)",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=ok(ETag=ETAG)),
)
def update_evidence(
    session: WriteSessionDep,
    actor: CheckerActor,
    expect: ExpectDep,
    entity_id: EntityId,
    evidence_id: PartId,
    evidence_in: EvidenceUpdate,
    reason: OptionalReasonQuery = None,
) -> Response:
    claim, evidence = parts.update_evidence(
        session, entity_id, evidence_id, evidence_in, expect=expect, actor=actor, reason=reason
    )
    return resource_response(EvidencePublic.model_validate(evidence), version=claim.version)


@router.delete(
    "/{entity_id}/evidence/{evidence_id}",
    status_code=204,
    summary="Remove evidence (If-Match: the claim's ETag; reason required)",
    responses=responses(ROLE, ENTITY, IF_MATCH, PARAMS, 409, ok=ok(204, ETag=ETAG)),
)
def remove_evidence(
    session: WriteSessionDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    evidence_id: PartId,
    reason: ReasonQuery,
) -> Response:
    claim = parts.remove_evidence(
        session, entity_id, evidence_id, expect=expect, actor=actor, reason=reason
    )
    return Response(status_code=204, headers={"ETag": f'"v{claim.version}"'})


# --- appearances --------------------------------------------------------------------------------


@router.get(
    "/{entity_id}/appearances",
    response_model=Page[AppearancePublic],
    summary="List where the claim appeared",
    responses=responses(KEYED, ENTITY, PARAMS),
    dependencies=[READER],
)
def list_appearances(request: Request, session: SessionDep, claim: CurrentClaim) -> Response:
    assert claim.id is not None
    items = queries.list_appearances(session, claim.id)
    return page_response(request.url, AppearancePublic, items, None)


@router.post(
    "/{entity_id}/appearances",
    status_code=201,
    response_model=AppearancePublic,
    summary="Record where the claim appeared (a new claim version)",
    responses=responses(ROLE, BODY, ENTITY, 412, 409, ok=ok(201, ETag=ETAG, Location=LOCATION)),
)
def add_appearance(
    session: WriteSessionDep,
    actor: CheckerActor,
    expect: OptionalExpectDep,
    entity_id: EntityId,
    appearance_in: AppearanceCreate,
    reason: OptionalReasonQuery = None,
) -> Response:
    claim, appearance = parts.add_appearance(
        session, entity_id, appearance_in, expect=expect, actor=actor, reason=reason
    )
    return resource_response(
        AppearancePublic.model_validate(appearance),
        version=claim.version,
        status_code=201,
        headers={"Location": f"/api/v1/claims/{entity_id}/appearances/{appearance.id}"},
    )


@router.delete(
    "/{entity_id}/appearances/{appearance_id}",
    status_code=204,
    summary="Remove an appearance (If-Match: the claim's ETag; reason required)",
    responses=responses(ROLE, ENTITY, IF_MATCH, PARAMS, 409, ok=ok(204, ETag=ETAG)),
)
def remove_appearance(
    session: WriteSessionDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    appearance_id: PartId,
    reason: ReasonQuery,
) -> Response:
    claim = parts.remove_appearance(
        session, entity_id, appearance_id, expect=expect, actor=actor, reason=reason
    )
    return Response(status_code=204, headers={"ETag": f'"v{claim.version}"'})
