"""Reading a tracked entity over HTTP: now, or as its history says it was (``?as_of=``).

Run inside ``Database.read`` (the work gets a ``Connection``); the claims' GET by id, the
hottest read, has its own driver-level path (``RowJson.fetch_by_id``) and shares the 404/410
rule through ``require_present``.
"""

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Connection
from starlette.responses import Response

from app.core import errors
from app.history import service as history_service
from app.history.models import EntityType
from app.tracked.lookup import require_present
from app.tracked.models import Tracked
from app.vocabulary.types import MAX_ID, checked_utc
from app.web.responses import resource_response


def parse_as_of(value: str) -> tuple[int | None, datetime | None]:
    """``as_of``: a version number or an ISO 8601 moment (400 otherwise)."""
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


def _entity_row(
    conn: Connection, model: type[Tracked], entity_id: int, *, allow_deleted: bool
) -> sa.Row[tuple[object, ...]]:
    table = model.__table__  # type: ignore[attr-defined]
    row = conn.execute(sa.select(table).where(table.c.id == entity_id)).first()
    return require_present(
        row,
        table.name,
        entity_id,
        deleted_at=row.deleted_at if row is not None else None,
        allow_deleted=allow_deleted,
    )


def entity_response(
    conn: Connection,
    model: type[Tracked],
    entity_id: int,
    *,
    public_model: type[BaseModel],
    entity_type: EntityType,
    as_of: str | None = None,
    as_of_model: type[BaseModel] | None = None,
) -> Response:
    """GET /{id}: the entity with its ETag (404/410), or with ``as_of`` its version then."""
    row = _entity_row(conn, model, entity_id, allow_deleted=as_of is not None)
    if as_of is not None:
        return _as_of_response(
            conn, row, entity_type, as_of, public_model=as_of_model or public_model
        )
    public = public_model.model_validate(dict(row._mapping))
    return resource_response(public, version=row.version)


def as_of_response(
    conn: Connection,
    model: type[Tracked],
    entity_id: int,
    *,
    entity_type: EntityType,
    as_of: str,
    public_model: type[BaseModel],
) -> Response:
    """GET /{id}?as_of=: the entity as its history says it was (404 if it never existed)."""
    row = _entity_row(conn, model, entity_id, allow_deleted=True)
    return _as_of_response(conn, row, entity_type, as_of, public_model=public_model)


def _as_of_response(
    conn: Connection,
    row: sa.Row[tuple[object, ...]],
    entity_type: EntityType,
    as_of: str,
    *,
    public_model: type[BaseModel],
) -> Response:
    """The entity at a version or moment (no ETag: it is not the current version)."""
    version, moment = parse_as_of(as_of)
    entity_id = row.id
    revision = history_service.revision_as_of(
        conn, entity_type, entity_id, version=version, at=moment
    )
    body = {
        **revision.snapshot,
        "id": entity_id,
        "version": revision.version,
        "head_hash": revision.hash,
        "created_at": row.created_at,
        "updated_at": revision.recorded_at,
    }
    public = public_model.model_validate(body)
    return resource_response(
        public, version=None, headers={"Content-Location": f"?as_of={revision.version}"}
    )
