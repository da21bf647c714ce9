"""The values a write sets: a PATCH body's fields, a required reason, an old version's fields,
and the snapshot the ledger records."""

from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection

from app.core import errors
from app.history import service as history_service
from app.history.models import EntityType
from app.tracked.models import TRACKING_FIELDS, Tracked


def plain_snapshot(entity: Tracked) -> dict[str, Any]:
    """An entity as its revisions record it: every field but the ledger's own."""
    return entity.model_dump(mode="json", exclude=set(TRACKING_FIELDS))


def changed_fields(payload: BaseModel, *, not_null: frozenset[str]) -> dict[str, Any]:
    """The fields a PATCH body sets; an explicit null on a required field is a 422."""
    values = payload.model_dump(exclude_unset=True)
    for field in sorted(not_null & values.keys()):
        if values[field] is None:
            raise errors.RuleViolation(
                f"{field} cannot be null.", rule="required_field", field=field
            )
    return values


def require_reason(reason: str | None, what: str) -> str:
    """``reason`` stripped; a 422 when there is none (``what``: "delete", "revert", ...)."""
    if reason is None or not reason.strip():
        raise errors.RuleViolation(
            f"A reason is required to {what}.", rule="reason_required", field="reason"
        )
    return reason.strip()


def reverted_values(
    conn: Connection,
    entity_type: EntityType,
    entity_id: int,
    to_version: int,
    *,
    model: type[BaseModel],
) -> dict[str, Any]:
    """The editable values of an old version (``model``'s fields), validated against
    today's rules: a 404 without that version, a 422 when it no longer passes."""
    old = history_service.get_revision(conn, entity_type, entity_id, to_version)
    editable = set(model.model_fields)
    candidate = {key: value for key, value in old.snapshot.items() if key in editable}
    try:
        validated = model.model_validate(candidate)
    except ValidationError as exc:
        raise errors.RuleViolation(
            f"Version {to_version} no longer passes today's rules and cannot be restored as is.",
            rule="revert_invalid",
            validation_errors=[
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
            ],
        ) from exc
    return validated.model_dump(include=set(candidate))
