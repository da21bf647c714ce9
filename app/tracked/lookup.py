"""Finding a tracked entity for a read or a write: the one 404/410 rule."""

from datetime import datetime
from typing import TypeVar

from sqlmodel import Session, select

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
    # FOR NO KEY UPDATE: it still serialises writers of this row, but does not conflict with
    # the key-share locks foreign-key checks take (a claim citing this speaker).
    statement = select(model).where(model.id == entity_id).with_for_update(key_share=True)  # type: ignore[attr-defined]
    entity = session.exec(statement).first()
    return require_present(
        entity,
        model.__tablename__,  # type: ignore[arg-type]
        entity_id,
        deleted_at=entity.deleted_at if entity is not None else None,
        allow_deleted=allow_deleted,
        writing=True,
    )
