"""Finding a tracked entity for a read or a write: the one 404/410 rule."""

from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import ColumnElement
from sqlmodel import Session

from app.core import errors
from app.tracked.models import TrackedT

FoundT = TypeVar("FoundT")


def require_present(
    found: FoundT | None,
    noun: str,
    entity_id: int,
    *,
    deleted_at: datetime | str | None,
    allow_deleted: bool = False,
    writing: bool = False,
) -> FoundT:
    """``found`` if it exists and, unless ``allow_deleted``, is not soft-deleted.

    404 when it never existed, 410 when it was deleted (``deleted_at`` in the problem: as
    stored for an ORM row, as the database wrote it for a row read as JSON-ready text).
    ``writing`` says what the caller can do about a 410: restore it, rather than read its
    history."""
    if found is None:
        raise errors.NotFound(f"No {noun} with id {entity_id}.")
    if deleted_at is not None and not allow_deleted:
        then = deleted_at.isoformat() if isinstance(deleted_at, datetime) else str(deleted_at)
        remedy = "restore it to change it" if writing else "its history is still readable"
        raise errors.Gone(f"{noun} {entity_id} was deleted; {remedy}.", deleted_at=then)
    return found


def load_for_write(
    session: Session, model: type[TrackedT], entity_id: int, *, allow_deleted: bool = False
) -> TrackedT:
    """Load a row for a write; on PostgreSQL with a row lock (SQLite holds BEGIN IMMEDIATE)."""
    return load_with_for_write(session, model, entity_id, allow_deleted=allow_deleted)[0]


def load_with_for_write(
    session: Session,
    model: type[TrackedT],
    entity_id: int,
    *columns: ColumnElement[Any],
    allow_deleted: bool = False,
) -> tuple[TrackedT, tuple[Any, ...]]:
    """``load_for_write`` that also reads ``columns`` (correlated to the row, e.g. its parts
    as JSON) in the same statement; returns the entity and their values."""
    # FOR NO KEY UPDATE: it still serialises writers of this row, but does not conflict with
    # the key-share locks foreign-key checks take (a claim citing this speaker). OF the
    # entity's table only: the columns' subqueries lock nothing.
    statement = (
        sa.select(model, *columns)
        .where(model.id == entity_id)  # type: ignore[attr-defined]
        .with_for_update(key_share=True, of=model)
    )
    # Rows, not scalars: sqlalchemy's select (sqlmodel's overloads do not list it).
    row = session.exec(statement).first()  # type: ignore[call-overload]
    entity: TrackedT | None = row[0] if row is not None else None
    found = require_present(
        entity,
        model.__tablename__,  # type: ignore[arg-type]
        entity_id,
        deleted_at=entity.deleted_at if entity is not None else None,
        allow_deleted=allow_deleted,
        writing=True,
    )
    return found, tuple(row[1:])
