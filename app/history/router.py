"""The global change feed and the history verifier."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.auth.actor import Role
from app.auth.dependencies import READER, require
from app.core.base import MAX_REVISION_ID
from app.core.db import DatabaseDep, SessionDep
from app.core.paging import MAX_LIMIT
from app.history import service as history_service
from app.history.models import EntityType, RevisionPublic, VerifyReport
from app.history.verify import verify_history
from app.web.openapi import KEYED, LINK, PARAMS, ROLE, ok, responses
from app.web.responses import next_link, resource_response

router = APIRouter(tags=["history"])


class ChangesPage(BaseModel):
    items: list[RevisionPublic]
    next_after: int


@router.get(
    "/changes",
    response_model=ChangesPage,
    summary="Every revision of every entity in commit order; poll with after=next_after",
    responses=responses(KEYED, PARAMS, ok=ok(Link=LINK)),
    dependencies=[READER],
)
def changes(
    request: Request,
    session: SessionDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_REVISION_ID, description="The last revision id you saw.")
    ] = 0,
    entity_type: EntityType | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Response:
    revisions = history_service.changes_feed(
        session.connection(), after=after, entity_type=entity_type, limit=limit
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
    response_model=VerifyReport,
    summary="Recompute every hash chain; name the first broken link",
    responses=responses(ROLE),
    # It reads every revision there is: not for every reader to run at will.
    dependencies=[Depends(require(Role.editor))],
)
async def verify(database: DatabaseDep) -> Response:
    def run() -> VerifyReport:
        with database.read_connection(snapshot=True) as conn:
            return verify_history(conn)

    report = await run_in_threadpool(run)
    return resource_response(report, version=None)
