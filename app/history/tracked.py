"""What every tracked entity shares: version, head hash, timestamps, soft delete.

The version column doubles as SQLAlchemy's ``version_id_col`` with the generator off: the
service sets the next version itself, and every UPDATE is issued as
``... WHERE id = :id AND version = :expected``; zero matched rows raise ``StaleDataError``.
"""

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import ORMExecuteState, declared_attr
from sqlmodel import Field, Session, SQLModel, select

from app.core import errors

TRACKING_FIELDS = frozenset({"id", "version", "head_hash", "created_at", "updated_at"})


class Tracked(SQLModel):
    version: int = Field(default=0)
    head_hash: str | None = Field(default=None, max_length=64)
    # Set by history.service.record before the row is first written.
    created_at: datetime = Field(default=None, nullable=False)
    updated_at: datetime = Field(default=None, nullable=False)
    deleted_at: datetime | None = Field(default=None)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        table = cls.__table__  # type: ignore[attr-defined]
        return {"version_id_col": table.c.version, "version_id_generator": False}


TrackedT = TypeVar("TrackedT", bound=Tracked)


def etag(version: int) -> str:
    return f'"v{version}"'


def check_version(entity: Tracked, expected_version: int | None, *, required: bool) -> None:
    """Compare the caller's If-Match version with the stored one (412 / 428)."""
    if expected_version is None:
        if required:
            raise errors.PreconditionRequired(
                "This write needs an If-Match header with the ETag you last read "
                f"(currently {etag(entity.version)}).",
                current_etag=etag(entity.version),
            )
        return
    if expected_version != entity.version:
        raise errors.PreconditionFailed(
            f"The resource is at {etag(entity.version)}, not {etag(expected_version)}: "
            "someone changed it since you read it. Read it again and re-apply your change.",
            current_etag=etag(entity.version),
        )


def load_for_write(
    session: Session,
    model: type[TrackedT],
    entity_id: int,
    *,
    allow_deleted: bool = False,
) -> TrackedT:
    """Load a row for a write; on PostgreSQL with a row lock (SQLite holds BEGIN IMMEDIATE)."""
    # FOR NO KEY UPDATE: it still serialises writers of this row, but does not conflict with
    # the key-share locks foreign-key checks take (a claim citing this speaker).
    statement = select(model).where(model.id == entity_id).with_for_update(key_share=True)  # type: ignore[attr-defined]
    entity = session.exec(statement).first()
    if entity is None:
        raise errors.NotFound(f"No {model.__tablename__} with id {entity_id}.")
    if entity.deleted_at is not None and not allow_deleted:
        raise errors.Gone(
            f"{model.__tablename__} {entity_id} was deleted; restore it to change it.",
            deleted_at=entity.deleted_at.isoformat(),
        )
    return entity


def diff_snapshots(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"from": old, "to": new}} for every field whose value differs."""
    changes: dict[str, dict[str, Any]] = {}
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old != new:
            changes[key] = {"from": old, "to": new}
    return changes


def apply_changes(snapshot: dict[str, Any], changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Replay ``changes`` on a snapshot (the verifier checks this reproduces the next one)."""
    result = dict(snapshot)
    for key, change in changes.items():
        result[key] = change["to"]
    return result


def get_entity(
    session: Session, model: type[TrackedT], entity_id: int, *, allow_deleted: bool = False
) -> TrackedT:
    """A plain read: 404 when it never existed, 410 when it was deleted."""
    entity = session.get(model, entity_id)
    if entity is None:
        raise errors.NotFound(f"No {model.__tablename__} with id {entity_id}.")
    if entity.deleted_at is not None and not allow_deleted:
        raise errors.Gone(
            f"{model.__tablename__} {entity_id} was deleted; its history is still readable.",
            deleted_at=entity.deleted_at.isoformat(),
        )
    return entity


class BulkWriteRefused(errors.AppError):
    status, slug, title = 409, "bulk-write-refused", "Conflict"


def refuse_bulk_writes(state: ORMExecuteState) -> None:
    """Session hook: a bulk UPDATE/DELETE on a tracked table (or on revision) would change rows
    without a revision, so it is refused; row changes go through the services instead."""
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    protected = {model.__tablename__ for model in Tracked.__subclasses__()} | {"revision"}
    if name in protected:
        raise BulkWriteRefused(
            f"Bulk {'UPDATE' if state.is_update else 'DELETE'} on {name} is refused: "
            "it would bypass the change history. Use the service functions."
        )
