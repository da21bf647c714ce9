"""HTTP for similar claims: the similar-claims reads, the stored pairs and the desk's
decisions on them, and the merge. Parse, call the service, render."""

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.auth.dependencies import READER, CheckerActor, EditorActor
from app.claims.models import ClaimPublic
from app.core import errors
from app.core.base import Page
from app.core.db import Database
from app.core.logs import get_logger
from app.core.settings import Settings
from app.matching import matcher, service
from app.matching.links import LINKS
from app.matching.models import (
    ConfirmIn,
    MatchPublic,
    MatchQuery,
    MergeIn,
    RejectIn,
    SimilarLimit,
    SimilarPage,
    SimilarQuery,
)
from app.tracked.versions import Expected
from app.web.dependencies import DatabaseDep, EntityId, database_of
from app.web.lifecycle import RequestCounts
from app.web.openapi import (
    BODY,
    ENTITY,
    ETAG,
    IF_MATCH,
    KEYED,
    LINK,
    PARAMS,
    ROLE,
    header,
    ok,
    responses,
)
from app.web.preconditions import ExpectDep
from app.web.problems import refuses_methods
from app.web.responses import JSON_MEDIA_TYPE, page_response, resource_response

router = APIRouter(tags=["similar claims"])
log = get_logger("app.matching")


def thresholds(settings: Settings) -> service.Thresholds:
    return service.Thresholds(
        suggest=settings.similar_suggest_threshold,
        link=settings.similar_link_threshold,
        link_min_words=settings.similar_link_min_words,
    )


def _similar_response(items: list[dict[str, object]]) -> Response:
    # The claims are JSON-ready rows (as GET /claims/{id} sends them): dumped as they are.
    body = orjson.dumps({"items": items}, option=orjson.OPT_UTC_Z)
    return Response(body, media_type=JSON_MEDIA_TYPE)


@router.post(
    "/claims/similar",
    response_model=SimilarPage,
    summary="Find the stored claims that say what a statement says",
    responses=responses(KEYED, BODY),
    dependencies=[READER],
)
async def similar_to_statement(request: Request, body: SimilarQuery) -> Response:
    limits = thresholds(request.app.state.settings)
    items = await database_of(request).read(
        lambda conn: service.similar_to_text(
            conn, body.statement, limit=body.limit, thresholds=limits
        ),
        snapshot=True,  # in the thread pool: the search and the re-ranking are CPU work
    )
    return _similar_response(items)


# /claims/similar is a resource of its own: its other methods answer 405 (Allow: POST) instead
# of reaching /claims/{entity_id}'s routes and failing there as an id that is no number.
@router.api_route(
    "/claims/similar", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
@refuses_methods
async def similar_takes_only_post() -> Response:
    raise StarletteHTTPException(405)


@router.get(
    "/claims/{entity_id}/similar",
    response_model=SimilarPage,
    summary="Find the stored claims that say what this claim says",
    responses=responses(KEYED, ENTITY, PARAMS),
    dependencies=[READER],
)
async def similar_to_claim(
    request: Request, entity_id: EntityId, query: Annotated[SimilarLimit, Query()]
) -> Response:
    limits = thresholds(request.app.state.settings)
    items = await database_of(request).read(
        lambda conn: service.similar_to_claim(
            conn, entity_id, limit=query.limit, thresholds=limits
        ),
        snapshot=True,
    )
    return _similar_response(items)


@router.get(
    "/matches",
    response_model=Page[MatchPublic],
    summary="List suggested, confirmed and rejected pairs of claims",
    responses=responses(KEYED, PARAMS, ok=ok(Link=LINK)),
    dependencies=[READER],
)
async def list_matches(request: Request, query: Annotated[MatchQuery, Query()]) -> Response:
    rows, next_cursor = await database_of(request).read(
        lambda conn: service.list_matches(conn, query)
    )
    return page_response(request.url, MatchPublic, rows, next_cursor)


@router.post(
    "/matches/{entity_id}/confirm",
    response_model=MatchPublic,
    summary="Link the pair's two claims (a revision of each)",
    responses=responses(ROLE, BODY, 404, 409),
)
async def confirm_match(
    database: DatabaseDep, actor: CheckerActor, entity_id: EntityId, body: ConfirmIn
) -> Response:
    def write(session: Session) -> Response:
        found = LINKS.confirm(session, entity_id, body.relation, actor=actor, reason=body.reason)
        return resource_response(MatchPublic.model_validate(found), version=None)

    return await database.write(write)


@router.post(
    "/matches/{entity_id}/reject",
    response_model=MatchPublic,
    summary="Say the pair's claims differ: never suggested again (a revision of each)",
    responses=responses(ROLE, BODY, 404, 409),
)
async def reject_match(
    database: DatabaseDep, actor: CheckerActor, entity_id: EntityId, body: RejectIn
) -> Response:
    def write(session: Session) -> Response:
        found = LINKS.reject(session, entity_id, actor=actor, reason=body.reason)
        return resource_response(MatchPublic.model_validate(found), version=None)

    return await database.write(write)


@router.post(
    "/claims/{entity_id}/merge",
    response_model=ClaimPublic,
    summary="Merge a claim into another: evidence and appearances move, the claim answers 410",
    responses=responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=ok(ETag=ETAG)),
)
async def merge_claim(
    database: DatabaseDep,
    actor: EditorActor,
    expect: ExpectDep,
    entity_id: EntityId,
    body: MergeIn,
) -> Response:
    def write(session: Session) -> Response:
        _, survivor = LINKS.merge(
            session,
            entity_id,
            body.into,
            expect=expect,
            expect_into=Expected(body.into_version),
            actor=actor,
            reason=body.reason,
        )
        return resource_response(
            ClaimPublic.model_validate(survivor),
            version=survivor.version,
            headers={"Link": f'</api/v1/claims/{survivor.id}>; rel="canonical"'},
        )

    return await database.write(write)


SIMILAR_LINK = header(
    'Where the claims similar to the new one are: </api/v1/claims/{id}/similar>; rel="similar".'
)


def with_similar(request: Request, response: Response, claim_id: int) -> Response:
    """A new claim's answer: the Link to its similar claims, and, once it is sent, a turn of
    the matcher (app/matching/matcher.py), which stores the new claim's suggestions, if this is
    the only request the process is serving and none was served beside another in the last
    ``similar_match_seconds`` (event streams aside). A busy process leaves the turn to its
    lifespan's matcher, which takes turns when the process is idle: under a flood of writes
    the matching waits, the writes do not (docs/similar.md)."""
    response.headers["Link"] = f'</api/v1/claims/{claim_id}/similar>; rel="similar"'
    settings: Settings = request.app.state.settings
    counts: RequestCounts | None = getattr(request.app, "request_counts", None)
    response.background = BackgroundTask(_match_new_claims, database_of(request), settings, counts)
    return response


async def _match_new_claims(
    database: Database, settings: Settings, counts: RequestCounts | None
) -> None:
    """A failure is logged, never the client's (its claim was created); the lifespan's matcher
    takes the page up again."""
    if counts is not None and counts.busy(besides=1, within=settings.similar_match_seconds):
        return  # others are being served: later, when the process is idle
    try:
        await matcher.take_turn(
            database,
            claims=settings.similar_match_claims,
            threshold=settings.similar_suggest_threshold,
        )
    except Exception:
        log.exception("similar_suggestions_failed")


async def refuse_merged(database: Database, claim_id: int, deleted_at: object) -> None:
    """A deleted claim that was merged answers 410 pointing at its survivor: ``Link: <…>;
    rel="canonical"`` and ``merged_into`` in the problem. Returns for any other deleted claim
    (the plain 410)."""
    into = await database.read(lambda conn: service.merged_into(conn, claim_id))
    if into is not None:
        raise errors.Gone(
            f"claim {claim_id} was merged into claim {into}; read that one.",
            headers={"Link": f'</api/v1/claims/{into}>; rel="canonical"'},
            merged_into=into,
            deleted_at=str(deleted_at),
        )
