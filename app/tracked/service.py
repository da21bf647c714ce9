"""``TrackedService``: the public writes of a tracked entity, subclassed by each domain.

Every public method (``create``, ``update``, ``delete``, ``restore``, ``revert``,
``create_many``) is one transaction: it loads (row-locked), checks the expected version and
the rules, changes the entity, records one revision through the ledger, and commits ONCE;
a change that changes nothing records nothing and commits nothing. The steps below them
(``_load``, ``_record_creation``, ``_change``) only flush, for subclasses that write more
than one thing in a transaction.

A subclass sets the class attributes and overrides only the hooks it needs:

- ``snapshot(session, entity)``: the entity as its revisions record it.
- ``snapshot_after(session, entity, before)``: the same once a change of the entity's own
  fields is applied, from the snapshot before it, without reading again what the
  transaction already holds (a claim's evidence and appearances).
- ``load_for_change(session, entity_id, allow_deleted=...)``: the entity row-locked for a
  write and its snapshot before the change, in as few statements as it can (a claim: one).
- ``check_new(session, values)``: ``check_request`` for a create, and the id the new entity
  will get (its creation revision names it), in one statement where it can.
- ``normalize(values, current)``: stored values from requested ones (``current`` is None on
  create), e.g. speakers' aliases kept distinct.
- ``check_request(session, values)``: refuse requested values on their own (references that
  must exist), before the entity is even loaded: such a 422 comes before a 404 or 412.
- ``check_rules(session, entity, values)``: refuse values that break a rule against the
  stored entity (``entity`` is None on create), before anything is written.
- ``after_change(session, entity, before)``: keep side tables (search indexes) in step after a
  create or change (``before``: the snapshot before it, None on create).
- ``after_create_many(session, rows)``: the same for a batch written as rows.
"""

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlmodel import Session

from app.auth.actor import Actor
from app.core.base import utcnow
from app.history import service as history_service
from app.history.models import EntityType, RevisionAction
from app.tracked import rows as batch_rows
from app.tracked.ids import reserve_id
from app.tracked.lookup import load_for_write
from app.tracked.models import Tracked
from app.tracked.rows import Row
from app.tracked.values import changed_fields, plain_snapshot, require_reason, reverted_values
from app.tracked.versions import Expected

ModelT = TypeVar("ModelT", bound=Tracked)
CreateT = TypeVar("CreateT", bound=BaseModel)
UpdateT = TypeVar("UpdateT", bound=BaseModel)


class TrackedService(Generic[ModelT, CreateT, UpdateT]):
    model: type[ModelT]
    entity_type: EntityType
    # The PATCH body; also what a revert brings back unless ``revert_model`` says otherwise.
    update_model: type[UpdateT]
    revert_model: type[BaseModel] | None = None
    # Fields a PATCH may not set to null (a 422 names the field).
    not_null: frozenset[str] = frozenset()

    # --- hooks ------------------------------------------------------------------------------

    def snapshot(self, session: Session, entity: ModelT) -> dict[str, Any]:
        return plain_snapshot(entity)

    def snapshot_after(
        self, session: Session, entity: ModelT, before: dict[str, Any]
    ) -> dict[str, Any]:
        return self.snapshot(session, entity)

    def load_for_change(
        self, session: Session, entity_id: int, *, allow_deleted: bool = False
    ) -> tuple[ModelT, dict[str, Any]]:
        entity = load_for_write(session, self.model, entity_id, allow_deleted=allow_deleted)
        return entity, self.snapshot(session, entity)

    def normalize(self, values: dict[str, Any], current: ModelT | None) -> dict[str, Any]:
        return values

    def check_request(self, session: Session, values: dict[str, Any]) -> None:
        return None

    def check_new(self, session: Session, values: dict[str, Any]) -> int:
        self.check_request(session, values)
        return reserve_id(session, self.model.__table__)  # type: ignore[attr-defined]

    def check_rules(self, session: Session, entity: ModelT | None, values: dict[str, Any]) -> None:
        return None

    def after_change(self, session: Session, entity: ModelT, before: dict[str, Any] | None) -> None:
        return None

    def after_create_many(self, session: Session, rows: Sequence[Row]) -> None:
        for row in rows:
            self.after_change(session, self.model.model_validate(row), None)

    # --- public writes: one transaction each, committed once -------------------------------

    def create(
        self, session: Session, data: CreateT, *, actor: Actor, reason: str | None = None
    ) -> ModelT:
        values = self.normalize(data.model_dump(), None)
        entity_id = self.check_new(session, values)
        self.check_rules(session, None, values)
        entity = self.model.model_validate(values)
        entity.id = entity_id
        self._record_creation(session, entity, actor=actor, reason=reason)
        self.after_change(session, entity, None)
        session.commit()
        return entity

    def update(
        self,
        session: Session,
        entity_id: int,
        data: UpdateT,
        *,
        expect: Expected,
        actor: Actor,
        reason: str | None = None,
    ) -> ModelT:
        """A PATCH: the fields ``data`` sets."""
        requested = changed_fields(data, not_null=self.not_null)
        self.check_request(session, requested)
        entity, before = self._load(session, entity_id, expect=expect)
        values = self.normalize(requested, entity)
        self.check_rules(session, entity, values)
        if self._change(session, entity, values, before=before, actor=actor, reason=reason):
            self.after_change(session, entity, before)
            session.commit()
        return entity

    def delete(
        self,
        session: Session,
        entity_id: int,
        *,
        expect: Expected,
        actor: Actor,
        reason: str | None,
    ) -> ModelT:
        """A soft delete (reason required); the entity and its history stay readable."""
        entity, before = self._load(session, entity_id, expect=expect)
        reason = require_reason(reason, "delete")
        self._change(
            session,
            entity,
            {"deleted_at": utcnow()},
            before=before,
            actor=actor,
            reason=reason,
            action=RevisionAction.deleted,
        )
        session.commit()
        return entity

    def restore(
        self,
        session: Session,
        entity_id: int,
        *,
        expect: Expected,
        actor: Actor,
        reason: str | None,
    ) -> ModelT:
        """Undo a delete (reason required); restoring a live entity changes nothing."""
        entity, before = self._load(session, entity_id, expect=expect, allow_deleted=True)
        reason = require_reason(reason, "restore")
        if entity.deleted_at is not None and self._change(
            session,
            entity,
            {"deleted_at": None},
            before=before,
            actor=actor,
            reason=reason,
            action=RevisionAction.restored,
        ):
            session.commit()
        return entity

    def revert(
        self,
        session: Session,
        entity_id: int,
        to_version: int,
        *,
        expect: Expected,
        actor: Actor,
        reason: str | None,
    ) -> ModelT:
        """Bring back the editable values of an earlier version (reason required)."""
        entity, before = self._load(session, entity_id, expect=expect)
        reason = require_reason(reason, "revert")
        values = reverted_values(
            session.connection(),
            self.entity_type,
            entity_id,
            to_version,
            model=self.revert_model or self.update_model,
        )
        self.check_request(session, values)
        self.check_rules(session, entity, values)
        if self._change(
            session,
            entity,
            values,
            before=before,
            actor=actor,
            reason=reason,
            action=RevisionAction.reverted,
            reverted_to=to_version,
        ):
            self.after_change(session, entity, before)
            session.commit()
        return entity

    def new_row(self, data: CreateT) -> Row:
        """What ``create`` would store, as a row for ``create_many``; not yet written."""
        return batch_rows.new_row(self.model, self.normalize(data.model_dump(), None))

    def create_many(
        self,
        session: Session,
        rows: Sequence[Row],
        *,
        actor: Actor,
        reason: str | None = None,
        snapshots: Sequence[dict[str, Any]] | None = None,
    ) -> Sequence[Row]:
        """Store rows made by ``new_row``: one transaction, one creation revision each, the
        same revisions ``create`` would record for each (``snapshots`` when the entity's
        snapshot holds more than its row)."""
        batch_rows.create_many(
            session,
            self.model,
            rows,
            entity_type=self.entity_type,
            actor=actor,
            reason=reason,
            snapshots=snapshots,
        )
        self.after_create_many(session, rows)
        session.commit()
        return rows

    # --- flush-level steps, for subclasses ------------------------------------------------

    def _load(
        self, session: Session, entity_id: int, *, expect: Expected, allow_deleted: bool = False
    ) -> tuple[ModelT, dict[str, Any]]:
        """The entity, row-locked for the write, at the version the caller expects, and its
        snapshot before the change."""
        entity, before = self.load_for_change(session, entity_id, allow_deleted=allow_deleted)
        expect.check(entity.version)
        return entity, before

    def _record_creation(
        self, session: Session, entity: ModelT, *, actor: Actor, reason: str | None
    ) -> None:
        """Insert a new entity (its id already reserved) with its version-1 revision: the
        revision first, hashed with the id, then the entity with its head hash, each in one
        INSERT. The ledger's batch twin of ``record`` writes the same revision ``record``
        would, byte for byte."""
        entity_id = entity.id  # type: ignore[attr-defined]
        assert isinstance(entity_id, int), "create reserves the id first"
        recorded_at = utcnow()
        (entity.head_hash,) = history_service.record_creations(
            session.connection(),
            entity_type=self.entity_type,
            created=[(entity_id, self.snapshot_after(session, entity, {}))],
            recorded_at=recorded_at,
            actor=actor,
            reason=reason,
        )
        entity.version = 1
        entity.created_at = entity.updated_at = recorded_at
        session.add(entity)
        session.flush()

    def _change(
        self,
        session: Session,
        entity: ModelT,
        values: dict[str, Any],
        *,
        actor: Actor,
        reason: str | None,
        action: RevisionAction = RevisionAction.updated,
        reverted_to: int | None = None,
        before: dict[str, Any] | None = None,
    ) -> bool:
        """Set ``values`` and record the revision; False (and nothing recorded) when the
        snapshot did not change. ``before``: the snapshot already taken, if any.

        Nothing is read between setting the values and the ledger's flush, so the changed
        fields, the version and the head hash go out in one UPDATE."""
        if before is None:
            before = self.snapshot(session, entity)
        for field, value in values.items():
            setattr(entity, field, value)
        return self._record_change(
            session,
            entity,
            before,
            actor=actor,
            reason=reason,
            action=action,
            reverted_to=reverted_to,
            after=self.snapshot_after(session, entity, before),
        )

    def _record_change(
        self,
        session: Session,
        entity: ModelT,
        before: dict[str, Any],
        *,
        actor: Actor,
        reason: str | None,
        action: RevisionAction = RevisionAction.updated,
        reverted_to: int | None = None,
        after: dict[str, Any] | None = None,
    ) -> bool:
        """Record the revision from ``before`` to the entity as it is now (for changes made
        outside ``_change``: a claim's evidence); False when nothing changed. ``after``: the
        snapshot of the entity as it is now, if already taken."""
        revision_id = history_service.record(
            session,
            entity,
            entity_type=self.entity_type,
            action=action,
            before=before,
            after=after if after is not None else self.snapshot(session, entity),
            actor=actor,
            reason=reason,
            reverted_to=reverted_to,
        )
        return revision_id is not None
