"""The ledger over HTTP: the global change feed, the verifier, and each tracked entity's
history routes (``history_routes``: the same three for every entity type)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from app.auth.actor import Role
from app.auth.dependencies import READER, require
from app.core import errors
from app.core.base import Page
from app.core.paging import MAX_LIMIT, SortKey, decode_cursor, encode_cursor
from app.history import service as history_service
from app.history.models import DiffPublic, EntityType, RevisionPublic
from app.history.service import revision_table
from app.tables import TRACKED_TABLES
from app.tlog.appender import catch_up
from app.tlog.models import HistoryReport
from app.tlog.verify import history_report
from app.vocabulary.types import MAX_ID, MAX_REVISION_ID
from app.web.dependencies import EntityId, VersionNumber, database_of
from app.web.openapi import KEYED, LINK, PARAMS, ROLE, ok, responses
from app.web.responses import next_link, page_response, resource_response

router = APIRouter(tags=["history"])

_VERSION_SORT = SortKey(
    "version", revision_table.c.version, revision_table.c.version, False, False, is_datetime=False
)


class ChangesPage(BaseModel):
    items: list[RevisionPublic]
    next_after: int


@router.get(
    "/changes",
    response_model=ChangesPage,
    summary="Every revision of every entity, in an order later commits never insert into; "
    "poll with after=next_after",
    responses=responses(KEYED, PARAMS, ok=ok(Link=LINK)),
    dependencies=[READER],
)
async def changes(
    request: Request,
    after: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_REVISION_ID,
            description="The last revision id you saw (next_after); 0 from the start.",
        ),
    ] = 0,
    entity_type: EntityType | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Response:
    revisions = await database_of(request).read(
        lambda conn: history_service.changes_feed(
            conn, after=after, entity_type=entity_type, limit=limit
        )
    )
    items = [RevisionPublic.of(revision) for revision in revisions]
    next_after = items[-1].id if items else after
    headers = {}
    if len(items) == limit:
        headers["Link"] = next_link(request.url, after=next_after)
    return resource_response(
        ChangesPage(items=items, next_after=next_after), version=None, headers=headers
    )


@router.get(
    "/history/verify",
    response_model=HistoryReport,
    summary="Recompute every hash chain and the transparency log; name the first broken link; "
    "report the current checkpoint",
    responses=responses(ROLE),
    # It reads every revision there is: not for every reader to run at will.
    dependencies=[Depends(require(Role.editor))],
)
async def verify(request: Request) -> Response:
    database = database_of(request)
    settings = request.app.state.settings
    await catch_up(database)
    report = await database.read(
        lambda conn: history_report(conn, TRACKED_TABLES, settings), snapshot=True
    )
    return resource_response(report, version=None)


def history_routes(entity_type: EntityType, noun: str) -> APIRouter:
    """GET /{id}/history, /{id}/history/{version} and /{id}/diff for one tracked entity type,
    for its router to include."""
    routes = APIRouter()

    @routes.get(
        "/{entity_id}/history",
        summary=f"The revisions of a {noun}, oldest first, paged by version",
        response_model=Page[RevisionPublic],
        responses=responses(KEYED, 404, PARAMS, ok=ok(Link=LINK)),
        dependencies=[READER],
    )
    async def history(
        request: Request,
        entity_id: EntityId,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    ) -> Response:
        after = decode_cursor(cursor, _VERSION_SORT)[1] if cursor else 0
        revisions = await database_of(request).read(
            lambda conn: history_service.list_revisions(
                conn, entity_type, entity_id, after_version=after, limit=limit + 1
            )
        )
        if not revisions and after == 0:
            raise errors.NotFound(f"No {noun} with id {entity_id} has any history.")
        next_cursor = None
        if len(revisions) > limit:
            revisions = revisions[:limit]
            next_cursor = encode_cursor(_VERSION_SORT, None, revisions[-1].version)
        return page_response(
            request.url, RevisionPublic, [RevisionPublic.of(r) for r in revisions], next_cursor
        )

    @routes.get(
        "/{entity_id}/history/{version}",
        summary=f"One revision of a {noun}",
        response_model=RevisionPublic,
        responses=responses(KEYED, 404, PARAMS),
        dependencies=[READER],
    )
    async def revision(request: Request, entity_id: EntityId, version: VersionNumber) -> Response:
        found = await database_of(request).read(
            lambda conn: history_service.get_revision(conn, entity_type, entity_id, version)
        )
        return resource_response(RevisionPublic.of(found), version=None)

    @routes.get(
        "/{entity_id}/diff",
        summary=f"What changed in a {noun} between two versions",
        response_model=DiffPublic,
        responses=responses(KEYED, 404, PARAMS),
        dependencies=[READER],
    )
    async def diff(
        request: Request,
        entity_id: EntityId,
        from_version: Annotated[int, Query(alias="from", ge=1, le=MAX_ID)],
        to_version: Annotated[int, Query(alias="to", ge=1, le=MAX_ID)],
    ) -> Response:
        changes = await database_of(request).read(
            lambda conn: history_service.diff_versions(
                conn, entity_type, entity_id, from_version, to_version
            )
        )
        body = DiffPublic(
            entity_type=entity_type,
            entity_id=entity_id,
            from_version=from_version,
            to_version=to_version,
            changes=changes,
        )
        return resource_response(body, version=None)

    return routes
