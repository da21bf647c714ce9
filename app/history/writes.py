"""The shared write steps of every tracked entity; they flush, the domain service commits.

Each returns whether it recorded a revision, so callers can tell a no-op from a change.
"""

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from sqlalchemy import insert
from sqlmodel import Session

from app.auth.actor import Actor
from app.core import errors
from app.core.base import utcnow
from app.history import service as history_service
from app.history.models import EntityType, RevisionAction
from app.history.tracked import TRACKING_FIELDS, Tracked, check_version, load_for_write

T = TypeVar("T", bound=Tracked)
Snapshot = Callable[[Any], dict[str, Any]]
AfterChange = Callable[[Session, Any], None]
AfterCreateMany = Callable[[Session, Sequence[dict[str, Any]]], None]


def _nothing_after(session: Session, entity: Any) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Expect:
    """The version a caller's If-Match names, and whether one was required."""

    version: int | None = None
    required: bool = False

    def check(self, entity: Tracked) -> None:
        check_version(entity, self.version, required=self.required)


NO_PRECONDITION = Expect()


@dataclass(frozen=True, slots=True)
class TrackedWrites:
    """A tracked domain's public write functions, for the shared routes (history/views.py)."""

    create: Callable[..., Any]
    update: Callable[..., Any]
    delete: Callable[..., Any]
    restore: Callable[..., Any]
    revert: Callable[..., Any]


def plain_snapshot(entity: Tracked) -> dict[str, Any]:
    return entity.model_dump(mode="json", exclude=set(TRACKING_FIELDS))


Row = dict[str, Any]


def new_row(model: type[Tracked], values: dict[str, Any]) -> Row:
    """A new entity as a plain row: every model field, defaults filled, ``values`` on top.
    Batch writes use rows because building thousands of instrumented ORM objects costs more
    than the writes themselves; the values were validated by the Create model already."""
    defaults, factories = _defaults_of(model)
    row = dict(defaults)
    row.update((name, factory()) for name, factory in factories)
    row.update((name, value) for name, value in values.items() if name in row)
    return row


@functools.cache
def _defaults_of(model: type[Tracked]) -> tuple[Row, tuple[tuple[str, Callable[[], Any]], ...]]:
    """A model's plain defaults and default factories, looked up once (pydantic's
    ``get_default`` inspects each factory's signature on every call)."""
    defaults: Row = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for name, info in model.model_fields.items():
        if info.default_factory is not None:
            factories.append((name, info.default_factory))  # type: ignore[arg-type]
        else:
            defaults[name] = info.default
    return defaults, tuple(factories)


def row_snapshot(row: Row) -> dict[str, Any]:
    """``plain_snapshot`` of the entity ``row`` describes (the same JSON values)."""
    snapshot: dict[str, Any] = to_jsonable_python(
        {name: value for name, value in row.items() if name not in TRACKING_FIELDS}
    )
    return snapshot


def create_many(
    session: Session,
    model: type[Tracked],
    rows: Sequence[Row],
    *,
    entity_type: EntityType,
    actor: Actor,
    reason: str | None = None,
    snapshots: Sequence[dict[str, Any]] | None = None,
) -> Sequence[Row]:
    """``create`` for a batch of rows made by ``new_row``: ids reserved, one creation revision
    each recorded with one executemany, the rows inserted with another, in the session's
    transaction; flush-level, like ``create``. Sets each row's id, version and head hash.
    ``snapshots`` default to ``row_snapshot`` of each row (they never hold the tracking
    fields, so they can be taken before the ids exist)."""
    if not rows:
        return rows
    if snapshots is None:
        snapshots = [row_snapshot(row) for row in rows]
    conn = session.connection()
    table = model.__table__  # type: ignore[attr-defined]
    recorded_at = utcnow()
    ids = history_service.reserve_ids(conn, table, len(rows))
    for row, entity_id in zip(rows, ids, strict=True):
        row.update(id=entity_id, version=1, created_at=recorded_at, updated_at=recorded_at)
    hashes = history_service.record_creations(
        conn,
        entity_type=entity_type,
        created=[(row["id"], snapshot) for row, snapshot in zip(rows, snapshots, strict=True)],
        recorded_at=recorded_at,
        actor=actor,
        reason=reason,
    )
    for row, head_hash in zip(rows, hashes, strict=True):
        row["head_hash"] = head_hash
    conn.execute(insert(table), rows)
    return rows


def require_reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        raise errors.RuleViolation(
            f"A reason is required to {what}.", rule="reason_required", field="reason"
        )
    return reason.strip()


def create(
    session: Session,
    entity: T,
    *,
    entity_type: EntityType,
    actor: Actor,
    reason: str | None = None,
    snapshot: Snapshot = plain_snapshot,
) -> T:
    history_service.record(
        session,
        entity,
        entity_type=entity_type,
        action=RevisionAction.created,
        before={},
        after=snapshot(entity),
        actor=actor,
        reason=reason,
    )
    return entity


def update(
    session: Session,
    entity: T,
    values: dict[str, Any],
    *,
    entity_type: EntityType,
    actor: Actor,
    reason: str | None = None,
    snapshot: Snapshot = plain_snapshot,
    action: RevisionAction = RevisionAction.updated,
    reverted_to: int | None = None,
) -> bool:
    before = snapshot(entity)
    for field, value in values.items():
        setattr(entity, field, value)
    after = snapshot(entity)
    revision = history_service.record(
        session,
        entity,
        entity_type=entity_type,
        action=action,
        before=before,
        after=after,
        actor=actor,
        reason=reason,
        reverted_to=reverted_to,
    )
    return revision is not None


def soft_delete(
    session: Session,
    entity: T,
    *,
    entity_type: EntityType,
    actor: Actor,
    reason: str | None,
    snapshot: Snapshot = plain_snapshot,
) -> None:
    reason = require_reason(reason, "delete")
    update(
        session,
        entity,
        {"deleted_at": utcnow()},
        entity_type=entity_type,
        actor=actor,
        reason=reason,
        snapshot=snapshot,
        action=RevisionAction.deleted,
    )


def restore(
    session: Session,
    entity: T,
    *,
    entity_type: EntityType,
    actor: Actor,
    reason: str | None,
    snapshot: Snapshot = plain_snapshot,
) -> bool:
    reason = require_reason(reason, "restore")
    if entity.deleted_at is None:
        return False
    return update(
        session,
        entity,
        {"deleted_at": None},
        entity_type=entity_type,
        actor=actor,
        reason=reason,
        snapshot=snapshot,
        action=RevisionAction.restored,
    )


def reverted_values(
    session: Session,
    entity: T,
    *,
    entity_type: EntityType,
    to_version: int,
    update_model: type[BaseModel],
) -> dict[str, Any]:
    """The editable values of an old version, validated against today's update model."""
    entity_id = entity.id  # type: ignore[attr-defined]
    old = history_service.get_revision(session.connection(), entity_type, entity_id, to_version)
    editable = set(update_model.model_fields)
    candidate = {key: value for key, value in old.snapshot.items() if key in editable}
    try:
        validated = update_model.model_validate(candidate)
    except ValidationError as exc:
        raise errors.RuleViolation(
            f"Version {to_version} no longer passes today's rules and cannot be restored as is.",
            rule="revert_invalid",
            validation_errors=[
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
            ],
        ) from exc
    return validated.model_dump(include=set(candidate))


def changed_fields(payload: BaseModel, *, not_null: frozenset[str]) -> dict[str, Any]:
    """The fields a PATCH body sets; an explicit null on a required field is a 422."""
    values = payload.model_dump(exclude_unset=True)
    for field in sorted(not_null & values.keys()):
        if values[field] is None:
            raise errors.RuleViolation(
                f"{field} cannot be null.", rule="required_field", field=field
            )
    return values


# --- whole writes (load, check If-Match, change, record, commit once) -----------------------


def delete_entity(
    session: Session,
    model: type[T],
    entity_id: int,
    *,
    entity_type: EntityType,
    expect: Expect,
    actor: Actor,
    reason: str | None,
    snapshot: Snapshot = plain_snapshot,
) -> T:
    entity = load_for_write(session, model, entity_id)
    expect.check(entity)
    soft_delete(
        session, entity, entity_type=entity_type, actor=actor, reason=reason, snapshot=snapshot
    )
    session.commit()
    return entity


def restore_entity(
    session: Session,
    model: type[T],
    entity_id: int,
    *,
    entity_type: EntityType,
    expect: Expect,
    actor: Actor,
    reason: str | None,
    snapshot: Snapshot = plain_snapshot,
) -> T:
    entity = load_for_write(session, model, entity_id, allow_deleted=True)
    expect.check(entity)
    if restore(
        session, entity, entity_type=entity_type, actor=actor, reason=reason, snapshot=snapshot
    ):
        session.commit()
    return entity


def update_entity(
    session: Session,
    model: type[T],
    entity_id: int,
    values: dict[str, Any] | Callable[[T], dict[str, Any]],
    *,
    entity_type: EntityType,
    expect: Expect,
    actor: Actor,
    reason: str | None = None,
    after_change: AfterChange = _nothing_after,
) -> T:
    """A PATCH: ``values`` may be a function of the loaded entity (for derived fields)."""
    entity = load_for_write(session, model, entity_id)
    expect.check(entity)
    resolved = values(entity) if callable(values) else values
    if update(session, entity, resolved, entity_type=entity_type, actor=actor, reason=reason):
        after_change(session, entity)
        session.commit()
    return entity


def revert_entity(
    session: Session,
    model: type[T],
    entity_id: int,
    to_version: int,
    *,
    update_model: type[BaseModel],
    entity_type: EntityType,
    expect: Expect,
    actor: Actor,
    reason: str | None,
    after_change: AfterChange = _nothing_after,
) -> T:
    entity = load_for_write(session, model, entity_id)
    expect.check(entity)
    reason = require_reason(reason, "revert")
    values = reverted_values(
        session, entity, entity_type=entity_type, to_version=to_version, update_model=update_model
    )
    if update(
        session,
        entity,
        values,
        entity_type=entity_type,
        actor=actor,
        reason=reason,
        action=RevisionAction.reverted,
        reverted_to=to_version,
    ):
        after_change(session, entity)
        session.commit()
    return entity


Normalize = Callable[[dict[str, Any], Any], dict[str, Any]]


def _as_given(values: dict[str, Any], current: Any) -> dict[str, Any]:
    return values


class TrackedService(Generic[T]):
    """The public writes of a tracked entity with no rules beyond its models: speakers, outlets,
    sources. Each method is one transaction that commits once, revision included.

    ``normalize(values, current)`` derives stored values from requested ones (``current`` is
    None on create); ``after_change`` keeps side tables (search indexes) in step.
    """

    def __init__(
        self,
        model: type[T],
        *,
        entity_type: EntityType,
        update_model: type[BaseModel],
        not_null: frozenset[str],
        normalize: Normalize = _as_given,
        after_change: AfterChange = _nothing_after,
        after_create_many: AfterCreateMany | None = None,
    ) -> None:
        self.model = model
        self.entity_type = entity_type
        self.update_model = update_model
        self.not_null = not_null
        self.normalize = normalize
        self.after_change = after_change
        self.after_create_many = after_create_many

    def new_row(self, data: BaseModel) -> Row:
        """What ``create`` would store, as a row for ``create_many``; not yet written."""
        return new_row(self.model, self.normalize(data.model_dump(), None))

    def create(
        self, session: Session, data: BaseModel, *, actor: Actor, reason: str | None = None
    ) -> T:
        entity = self.model.model_validate(self.normalize(data.model_dump(), None))
        create(session, entity, entity_type=self.entity_type, actor=actor, reason=reason)
        self.after_change(session, entity)
        session.commit()
        return entity

    def create_many(
        self, session: Session, rows: Sequence[Row], *, actor: Actor, reason: str | None = None
    ) -> Sequence[Row]:
        """Store rows made by ``new_row``: one transaction, one creation revision each."""
        create_many(
            session, self.model, rows, entity_type=self.entity_type, actor=actor, reason=reason
        )
        if self.after_create_many is not None:
            self.after_create_many(session, rows)
        else:
            for row in rows:
                self.after_change(session, self.model.model_validate(row))
        session.commit()
        return rows

    def update(
        self,
        session: Session,
        entity_id: int,
        data: BaseModel,
        *,
        expect: Expect,
        actor: Actor,
        reason: str | None = None,
    ) -> T:
        requested = changed_fields(data, not_null=self.not_null)
        return update_entity(
            session,
            self.model,
            entity_id,
            lambda current: self.normalize(requested, current),
            entity_type=self.entity_type,
            expect=expect,
            actor=actor,
            reason=reason,
            after_change=self.after_change,
        )

    def delete(
        self, session: Session, entity_id: int, *, expect: Expect, actor: Actor, reason: str | None
    ) -> T:
        return delete_entity(
            session,
            self.model,
            entity_id,
            entity_type=self.entity_type,
            expect=expect,
            actor=actor,
            reason=reason,
        )

    def restore(
        self, session: Session, entity_id: int, *, expect: Expect, actor: Actor, reason: str | None
    ) -> T:
        return restore_entity(
            session,
            self.model,
            entity_id,
            entity_type=self.entity_type,
            expect=expect,
            actor=actor,
            reason=reason,
        )

    def revert(
        self,
        session: Session,
        entity_id: int,
        to_version: int,
        *,
        expect: Expect,
        actor: Actor,
        reason: str | None,
    ) -> T:
        return revert_entity(
            session,
            self.model,
            entity_id,
            to_version,
            update_model=self.update_model,
            entity_type=self.entity_type,
            expect=expect,
            actor=actor,
            reason=reason,
            after_change=self.after_change,
        )

    @property
    def writes(self) -> TrackedWrites:
        return TrackedWrites(
            create=self.create,
            update=self.update,
            delete=self.delete,
            restore=self.restore,
            revert=self.revert,
        )
