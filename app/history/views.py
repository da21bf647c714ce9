"""Reading an entity's history over HTTP: shared by every tracked domain's router."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from sqlmodel import Session
from starlette.responses import Response

from app.auth.dependencies import READER, CheckerActor, EditorActor
from app.core import errors
from app.core.base import MAX_ID, Page, checked_utc
from app.core.db import SessionDep, WriteSessionDep
from app.core.paging import MAX_LIMIT, SortKey, decode_cursor, encode_cursor
from app.history import service as history_service
from app.history.models import DiffPublic, EntityType, Revision, RevisionPublic
from app.history.schemas import Reason, ReasonIn, RevertIn
from app.history.tracked import Tracked, get_entity
from app.history.writes import TrackedWrites
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
    Responses,
    ok,
    responses,
)
from app.web.preconditions import ExpectDep
from app.web.responses import page_response, resource_response

EntityId = Annotated[int, Path(ge=1, le=MAX_ID, description="The entity's id.")]
# A version is an INTEGER column too.
VersionNumber = Annotated[int, Path(ge=1, le=MAX_ID, description="A version, 1 for the first.")]
AsOf = Annotated[
    str | None,
    Query(
        max_length=64,
        description="A version number (`7`) or an ISO 8601 UTC timestamp: the entity as it was "
        "then, read from its history.",
    ),
]

revision_table = Revision.__table__  # type: ignore[attr-defined]
_VERSION_SORT = SortKey(
    "version", revision_table.c.version, revision_table.c.version, False, False, is_datetime=False
)


def parse_as_of(value: str) -> tuple[int | None, datetime | None]:
    # ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
    if value.isascii() and value.isdigit():
        version = int(value)
        if not 1 <= version <= MAX_ID:
            raise errors.BadRequest(
                f"as_of version is out of range (1 to {MAX_ID}).", field="as_of"
            )
        return version, None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise errors.BadRequest(
            "as_of must be a version number or an ISO 8601 timestamp.", field="as_of"
        ) from None
    try:
        return None, checked_utc(moment)
    except ValueError as exc:
        raise errors.BadRequest(f"as_of: {exc}", field="as_of") from None


def as_of_response(
    session: Session,
    entity: Tracked,
    *,
    entity_type: EntityType,
    as_of: str,
    public_model: type[BaseModel],
    extra: dict[str, Any] | None = None,
) -> Response:
    """The entity as its history says it was at a version or moment (no ETag: not current)."""
    version, moment = parse_as_of(as_of)
    entity_id = entity.id  # type: ignore[attr-defined]
    revision = history_service.revision_as_of(
        session.connection(), entity_type, entity_id, version=version, at=moment
    )
    body = {
        **revision.snapshot,
        **(extra or {}),
        "id": entity_id,
        "version": revision.version,
        "head_hash": revision.hash,
        "created_at": entity.created_at,
        "updated_at": revision.recorded_at,
    }
    public = public_model.model_validate(body)
    return resource_response(
        public, version=None, headers={"Content-Location": f"?as_of={revision.version}"}
    )


def add_history_routes(router: APIRouter, *, entity_type: EntityType, noun: str) -> None:
    """GET /{id}/history, /{id}/history/{version} and /{id}/diff for one tracked entity."""

    def history(
        request: Request,
        session: SessionDep,
        entity_id: EntityId,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    ) -> Response:
        after = decode_cursor(cursor, _VERSION_SORT)[1] if cursor else 0
        revisions = list(
            history_service.list_revisions(
                session.connection(), entity_type, entity_id, after_version=after, limit=limit + 1
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

    def revision(session: SessionDep, entity_id: EntityId, version: VersionNumber) -> Response:
        found = history_service.get_revision(session.connection(), entity_type, entity_id, version)
        return resource_response(RevisionPublic.of(found), version=None)

    def diff(
        session: SessionDep,
        entity_id: EntityId,
        from_version: Annotated[int, Query(alias="from", ge=1, le=MAX_ID)],
        to_version: Annotated[int, Query(alias="to", ge=1, le=MAX_ID)],
    ) -> Response:
        changes = history_service.diff_versions(
            session.connection(), entity_type, entity_id, from_version, to_version
        )
        body = DiffPublic(
            entity_type=entity_type,
            entity_id=entity_id,
            from_version=from_version,
            to_version=to_version,
            changes=changes,
        )
        return resource_response(body, version=None)

    router.add_api_route(
        "/{entity_id}/history",
        history,
        methods=["GET"],
        summary=f"The revisions of a {noun}, oldest first, paged by version",
        response_model=Page[RevisionPublic],
        responses=responses(KEYED, 404, PARAMS, ok=ok(Link=LINK)),
        dependencies=[READER],
    )
    router.add_api_route(
        "/{entity_id}/history/{version}",
        revision,
        methods=["GET"],
        summary=f"One revision of a {noun}",
        response_model=RevisionPublic,
        responses=responses(KEYED, 404, PARAMS),
        dependencies=[READER],
    )
    router.add_api_route(
        "/{entity_id}/diff",
        diff,
        methods=["GET"],
        summary=f"What changed in a {noun} between two versions",
        response_model=DiffPublic,
        responses=responses(KEYED, 404, PARAMS),
        dependencies=[READER],
    )


def add_tracked_routes(
    router: APIRouter,
    *,
    noun: str,
    entity_type: EntityType,
    model: type[Tracked],
    public_model: type[BaseModel],
    create_model: type[BaseModel],
    update_model: type[BaseModel],
    service: TrackedWrites,
    as_of_model: type[BaseModel] | None = None,
    include_read: bool = True,
) -> None:
    """The routes every tracked entity has: create, read (also as of), change, delete, restore,
    revert, and its history. The list route, with its own filters, stays in the domain router."""
    location = f"{router.prefix}/"

    def one(entity: Any, status_code: int = 200) -> Response:
        headers = {"Location": f"/api/v1{location}{entity.id}"} if status_code == 201 else None
        return resource_response(
            public_model.model_validate(entity),
            version=entity.version,
            status_code=status_code,
            headers=headers,
        )

    def create(session: WriteSessionDep, actor: CheckerActor, body: create_model) -> Response:  # type: ignore[valid-type]
        return one(service.create(session, body, actor=actor), 201)

    def read(session: SessionDep, entity_id: EntityId, as_of: AsOf = None) -> Response:
        entity = get_entity(session, model, entity_id, allow_deleted=as_of is not None)
        if as_of is not None:
            return as_of_response(
                session,
                entity,
                entity_type=entity_type,
                as_of=as_of,
                public_model=as_of_model or public_model,
            )
        return one(entity)

    def update(
        session: WriteSessionDep,
        actor: CheckerActor,
        expect: ExpectDep,
        entity_id: EntityId,
        body: update_model,  # type: ignore[valid-type]
        reason: Annotated[Reason | None, Query(description="Why, for the history.")] = None,
    ) -> Response:
        return one(
            service.update(session, entity_id, body, expect=expect, actor=actor, reason=reason)
        )

    def delete(
        session: WriteSessionDep,
        actor: EditorActor,
        expect: ExpectDep,
        entity_id: EntityId,
        reason: Annotated[Reason, Query(description="Why, for the history (required).")],
    ) -> Response:
        return one(service.delete(session, entity_id, expect=expect, actor=actor, reason=reason))

    def restore(
        session: WriteSessionDep,
        actor: EditorActor,
        expect: ExpectDep,
        entity_id: EntityId,
        body: ReasonIn,
    ) -> Response:
        return one(
            service.restore(session, entity_id, expect=expect, actor=actor, reason=body.reason)
        )

    def revert(
        session: WriteSessionDep,
        actor: EditorActor,
        expect: ExpectDep,
        entity_id: EntityId,
        body: RevertIn,
    ) -> Response:
        entity = service.revert(
            session, entity_id, body.to_version, expect=expect, actor=actor, reason=body.reason
        )
        return one(entity)

    written = ok(ETag=ETAG)
    # path, endpoint, method, success status, summary, what it can answer besides success
    routes: list[tuple[str, Callable[..., Response], str, int, str, Responses]] = [
        ("", create, "POST", 201, f"Create a {noun}",
         responses(ROLE, BODY, 409, ok=ok(201, ETag=ETAG, Location=LOCATION))),
        ("/{entity_id}", read, "GET", 200, f"Read a {noun}, now or as of a version or moment",
         responses(KEYED, ENTITY, PARAMS, ok=written)),
        ("/{entity_id}", update, "PATCH", 200, f"Change a {noun} (If-Match required)",
         responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=written)),
        ("/{entity_id}", delete, "DELETE", 200, f"Delete a {noun} (soft; reason required)",
         responses(ROLE, ENTITY, IF_MATCH, PARAMS, 409, ok=written)),
        ("/{entity_id}/restore", restore, "POST", 200, f"Undo the delete of a {noun}",
         responses(ROLE, BODY, 404, IF_MATCH, 409, ok=written)),
        ("/{entity_id}/revert", revert, "POST", 200, f"Bring back an earlier version of a {noun}",
         responses(ROLE, BODY, ENTITY, IF_MATCH, 409, ok=written)),
    ]  # fmt: skip
    if not include_read:
        routes = [route for route in routes if route[1] is not read]
    for path, endpoint, method, status_code, summary, answers in routes:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            status_code=status_code,
            response_model=public_model,
            summary=summary,
            responses=answers,
            name=f"{endpoint.__name__}_{noun}",
            # Writes name their role in their actor parameter; reads declare it here.
            dependencies=[READER] if method == "GET" else None,
        )
    add_history_routes(router, entity_type=entity_type, noun=noun)
