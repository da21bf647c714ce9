"""Batch writes as plain rows: building thousands of instrumented ORM objects costs more than
the writes themselves, so a batch builds dicts (``new_row``) and ``create_many`` writes them
with one INSERT, their creation revisions with another. The revisions are the same, byte for
byte, as one ``TrackedService.create`` per entity would record."""

import functools
from collections.abc import Callable, Sequence
from typing import Any

from pydantic_core import to_jsonable_python
from sqlmodel import Session

from app.auth.actor import Actor
from app.core.base import utcnow
from app.core.bulk import insert_rows
from app.history import service as history_service
from app.history.models import EntityType
from app.tracked.models import TRACKING_FIELDS, Tracked

Row = dict[str, Any]


def new_row(model: type[Tracked], values: dict[str, Any]) -> Row:
    """A new entity as a plain row: every model field, defaults filled, ``values`` on top.
    The values were validated by the Create model already."""
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
    """Write rows made by ``new_row``: ids reserved, one creation revision each recorded in
    bulk, the rows inserted in bulk too (``insert_rows``), in the session's transaction. Flushes
    only (``TrackedService.create_many`` commits). Sets each row's id, version and head hash.
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
    insert_rows(conn, table, rows)
    return rows
