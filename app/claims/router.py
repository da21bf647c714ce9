"""HTTP for claims, their status, evidence and appearances: parse, call the service, render.

Reads are ``async def`` on ``Database.read`` (the list and GET by id send the database's rows
as they are, building no models); writes are plain ``def`` handlers on a write session. Every
write answers the claim's new ETag: evidence and appearances are versioned with their claim.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlmodel import Session
from starlette.responses import Response

from app.auth.dependencies import READER, CheckerActor, EditorActor
from app.claims import parts, queries
from app.claims.expand import ClaimDetail, ClaimExpanded
from app.claims.fast_read import claim_response, claims_page_response
from app.claims.models import (
    CLAIM_EXPANSIONS,
    EXPAND_DESCRIPTION,
    MAX_EXPAND_VALUES,
    AppearanceCreate,
    AppearancePublic,
    Claim,
    ClaimAsOf,
    ClaimCreate,
    ClaimExpand,
    ClaimListQuery,
    ClaimPublic,
    ClaimUpdate,
    EvidenceCreate,
    EvidencePublic,
    EvidenceUpdate,
    StatusChange,
    expansions,
)
from app.claims.service import CLAIMS
from app.core import errors
from app.core.base import Page
from app.history.models import EntityType
from app.history.router import history_routes
from app.history.schemas import ReasonIn, RevertIn
from app.matching.router import SIMILAR_LINK, with_similar
from app.tlog.router import LEAF_HEADERS, LeafIndexQuery, add_leaf_headers
from app.vocabulary.types import MAX_ID
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
from app.web.preconditions import ExpectDep, OptionalExpectDep
from app.web.reads import as_of_response
from app.web.responses import (
    etag,
    page_response,
    resource_response,
)

router = APIRouter(prefix="/claims", tags=["claims"])
PartId = Annotated[int, Path(ge=1, le=MAX_ID)]
ExpandQuery = Annotated[
    ClaimExpand,
    Query(
        max_length=MAX_EXPAND_VALUES,
        description=EXPAND_DESCRIPTION.format(", ".join(CLAIM_EXPANSIONS))
        + " Not with as_of (422): the claim as of then has its evidence and appearances.",
    ),
]
WRITTEN = ok(ETag=ETAG)


def _claim(claim: Claim, status_code: int = 200) -> Response:
    """The claim with its ETag (and, when just created, its Location)."""
    headers = {"Location": f"/api/v1/claims/{claim.id}"} if status_code == 201 else None
    return resource_response(
        ClaimPublic.model_validate(claim),
        version=claim.version,
        status_code=status_code,
        headers=headers,
    )


@router.get(
    "",
    response_model=Page[ClaimExpanded],
    summary="List and search claims",
    responses=responses(KEYED, PARAMS, ok=ok(Link=LINK)),
    dependencies=[READER],
)
async def list_claims(request: Request, query: Annotated[ClaimListQuery, Query()]) -> Response:
    return await claims_page_response(request, query)


@router.get(
    "/{entity_id}",
    response_model=ClaimDetail,
    summary="Read a claim, now or as of a version or moment",
    responses={
        **responses(KEYED, ENTITY, PARAMS),
        200: {
            "model": ClaimDetail | ClaimAsOf,
            "description": "The claim, with what expand names; with as_of, as it was then, "
            "with its evidence and appearances (and no ETag: it is not the current version)",
            "headers": {"ETag": ETAG, **LEAF_HEADERS},
        },
    },
    dependencies=[READER],
)
async def read_claim(
    request: Request,
    entity_id: EntityId,
    as_of: AsOf = None,
    expand: ExpandQuery = [],  # noqa: B006  (FastAPI copies a parameter's default)
    leaf_index: LeafIndexQuery = False,
) -> Response:
    if as_of is not None and leaf_index:
        raise errors.ConflictingParameters(
            "leaf_index names the current version's revision; as_of reads an older one (its "
            "revision id is in /claims/{id}/history).",
            names=("as_of", "leaf_index"),
        )
    if leaf_index:
        found = await claim_response(request, entity_id, expansions(expand))
        return await add_leaf_headers(request, found, EntityType.claim, entity_id)
    if as_of is not None and expand:
        raise errors.ConflictingParameters(
            "expand cannot be combined with as_of: the claim as of then carries its evidence "
            "and appearances as they were; read its speaker and outlet with their own as_of.",
            names=("as_of", "expand"),
        )
    if as_of is not None:
        return await database_of(request).read(
            lambda conn: as_of_response(
                conn,
                Claim,
                entity_id,
                entity_type=EntityType.claim,
                as_of=as_of,
                public_model=ClaimAsOf,
            )
        )
    return await claim_response(request, entity_id, expansions(expand))


@router.post(
    "",
    status_code=201,
    response_model=ClaimPublic,
    summary="Create a claim",
    responses=responses(
        ROLE, BODY, 409, ok=ok(201, ETag=ETAG, Location=LOCATION, Link=SIMILAR_LINK)
    ),
)
async def create_claim(
    request: Request, database: DatabaseDep, actor: CheckerActor, body: ClaimCreate
) -> Response:
    def write(session: Session) -> Claim:
        return CLAIMS.create(session, body, actor=actor)

    claim = await database.write(write)
    assert claim.id is not None
    return with_similar(request, _claim(claim, 201), claim.id)


@router.patch(
    "/{entity_id}",
    response_model=ClaimPublic,
    summary="Change a claim (If-Match required)",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=WRITTEN),
)
async def update_claim(
    database: DatabaseDep,
    actor: CheckerActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: ClaimUpdate,
    reason: OptionalReasonQuery = None,
) -> Response:
    def write(session: Session) -> Response:
        claim = CLAIMS.update(session, entity_id, body, expect=expect, actor=actor, reason=reason)
        return _claim(claim)

    return await database.write(write)


@router.delete(
    "/{entity_id}",
    response_model=ClaimPublic,
    summary="Delete a claim (soft; reason required)",
    responses=responses(ROLE, ENTITY, IF_MATCH, PARAMS, 409, ok=WRITTEN),
)
async def delete_claim(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    reason: ReasonQuery,
) -> Response:
    def write(session: Session) -> Response:
        return _claim(CLAIMS.delete(session, entity_id, expect=expect, actor=actor, reason=reason))

    return await database.write(write)


@router.post(
    "/{entity_id}/restore",
    response_model=ClaimPublic,
    summary="Undo the delete of a claim",
    responses=responses(ROLE, BODY, 404, IF_MATCH, 409, ok=WRITTEN),
)
async def restore_claim(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: ReasonIn,
) -> Response:
    def write(session: Session) -> Response:
        claim = CLAIMS.restore(session, entity_id, expect=expect, actor=actor, reason=body.reason)
        return _claim(claim)

    return await database.write(write)


@router.post(
    "/{entity_id}/revert",
    response_model=ClaimPublic,
    summary="Bring back an earlier version of a claim",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=WRITTEN),
)
async def revert_claim(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: RevertIn,
) -> Response:
    def write(session: Session) -> Response:
        claim = CLAIMS.revert(
            session, entity_id, body.to_version, expect=expect, actor=actor, reason=body.reason
        )
        return _claim(claim)

    return await database.write(write)


router.include_router(history_routes(EntityType.claim, "claim"))


@router.post(
    "/{entity_id}/status",
    response_model=ClaimPublic,
    summary="Set the verdict or move the review (reason required)",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=ok(ETag=ETAG)),
)
async def change_status(
    database: DatabaseDep,
    actor: CheckerActor,
    expect: ExpectDep,
    entity_id: EntityId,
    change: StatusChange,
) -> Response:
    def write(session: Session) -> Response:
        return _claim(CLAIMS.set_status(session, entity_id, change, expect=expect, actor=actor))

    return await database.write(write)


# --- evidence ---------------------------------------------------------------------------------
# Evidence and appearances are versioned with their claim: their ETag is the claim's.


@router.get(
    "/{entity_id}/evidence",
    response_model=Page[EvidencePublic],
    summary="List evidence",
    responses=responses(KEYED, ENTITY, PARAMS),
    dependencies=[READER],
)
async def list_evidence(request: Request, entity_id: EntityId) -> Response:
    items = await database_of(request).read(lambda conn: queries.claim_evidence(conn, entity_id))
    return page_response(request.url, EvidencePublic, items, None)


@router.post(
    "/{entity_id}/evidence",
    status_code=201,
    response_model=EvidencePublic,
    summary="Add evidence (a new claim version)",
    responses=responses(ROLE, BODY, ENTITY, 412, 409, ok=ok(201, ETag=ETAG, Location=LOCATION)),
)
async def add_evidence(
    database: DatabaseDep,
    actor: CheckerActor,
    expect: OptionalExpectDep,
    entity_id: EntityId,
    evidence_in: EvidenceCreate,
    reason: OptionalReasonQuery = None,
) -> Response:
    def write(session: Session) -> Response:
        claim, evidence = parts.add_evidence(
            session, entity_id, evidence_in, expect=expect, actor=actor, reason=reason
        )
        return resource_response(
            EvidencePublic.model_validate(evidence),
            version=claim.version,
            status_code=201,
            headers={"Location": f"/api/v1/claims/{entity_id}/evidence/{evidence.id}"},
        )

    return await database.write(write)


@router.patch(
    "/{entity_id}/evidence/{evidence_id}",
    response_model=EvidencePublic,
    summary="Change evidence (If-Match: the claim's ETag)",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=ok(ETag=ETAG)),
)
async def update_evidence(
    database: DatabaseDep,
    actor: CheckerActor,
    expect: ExpectDep,
    entity_id: EntityId,
    evidence_id: PartId,
    evidence_in: EvidenceUpdate,
    reason: OptionalReasonQuery = None,
) -> Response:
    def write(session: Session) -> Response:
        claim, evidence = parts.update_evidence(
            session, entity_id, evidence_id, evidence_in, expect=expect, actor=actor, reason=reason
        )
        return resource_response(EvidencePublic.model_validate(evidence), version=claim.version)

    return await database.write(write)


@router.delete(
    "/{entity_id}/evidence/{evidence_id}",
    status_code=204,
    summary="Remove evidence (If-Match: the claim's ETag; reason required)",
    responses=responses(ROLE, ENTITY, IF_MATCH, PARAMS, 409, ok=ok(204, ETag=ETAG)),
)
async def remove_evidence(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    evidence_id: PartId,
    reason: ReasonQuery,
) -> Response:
    def write(session: Session) -> Response:
        claim = parts.remove_evidence(
            session, entity_id, evidence_id, expect=expect, actor=actor, reason=reason
        )
        return Response(status_code=204, headers={"ETag": etag(claim.version)})

    return await database.write(write)


# --- appearances ------------------------------------------------------------------------------


@router.get(
    "/{entity_id}/appearances",
    response_model=Page[AppearancePublic],
    summary="List where the claim appeared",
    responses=responses(KEYED, ENTITY, PARAMS),
    dependencies=[READER],
)
async def list_appearances(request: Request, entity_id: EntityId) -> Response:
    items = await database_of(request).read(lambda conn: queries.claim_appearances(conn, entity_id))
    return page_response(request.url, AppearancePublic, items, None)


@router.post(
    "/{entity_id}/appearances",
    status_code=201,
    response_model=AppearancePublic,
    summary="Record where the claim appeared (a new claim version)",
    responses=responses(ROLE, BODY, ENTITY, 412, 409, ok=ok(201, ETag=ETAG, Location=LOCATION)),
)
async def add_appearance(
    database: DatabaseDep,
    actor: CheckerActor,
    expect: OptionalExpectDep,
    entity_id: EntityId,
    appearance_in: AppearanceCreate,
    reason: OptionalReasonQuery = None,
) -> Response:
    def write(session: Session) -> Response:
        claim, appearance = parts.add_appearance(
            session, entity_id, appearance_in, expect=expect, actor=actor, reason=reason
        )
        return resource_response(
            AppearancePublic.model_validate(appearance),
            version=claim.version,
            status_code=201,
            headers={"Location": f"/api/v1/claims/{entity_id}/appearances/{appearance.id}"},
        )

    return await database.write(write)


@router.delete(
    "/{entity_id}/appearances/{appearance_id}",
    status_code=204,
    summary="Remove an appearance (If-Match: the claim's ETag; reason required)",
    responses=responses(ROLE, ENTITY, IF_MATCH, PARAMS, 409, ok=ok(204, ETag=ETAG)),
)
async def remove_appearance(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    appearance_id: PartId,
    reason: ReasonQuery,
) -> Response:
    def write(session: Session) -> Response:
        claim = parts.remove_appearance(
            session, entity_id, appearance_id, expect=expect, actor=actor, reason=reason
        )
        return Response(status_code=204, headers={"ETag": etag(claim.version)})

    return await database.write(write)
