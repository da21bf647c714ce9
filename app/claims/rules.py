"""The claim's rules, checked before anything is written (DESIGN.md, "Verification status and
review"): status, verdict and review, who may change them, the references a claim makes, and
the appearance cap.

Nothing here writes. The rules on a claim's state are pure functions of that state and the
requested values, so the single writes (service.py, parts.py) and the batch path (batch.py)
apply the very same checks; only ``check_status_rules`` and the reference checks read the
database.
"""

from collections.abc import Callable
from typing import Any, Protocol, overload

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Table
from sqlmodel import Session, col

from app.auth.actor import Actor, Role
from app.claims.models import STATUSES_NEEDING_EVIDENCE, Claim, Evidence, StatusChange
from app.core import errors
from app.core.base import utcnow
from app.outlets.models import Outlet
from app.sources.models import Source
from app.speakers.models import Speaker
from app.tracked.ids import next_id
from app.vocabulary.claim import MAX_APPEARANCES
from app.vocabulary.enums import ClaimStatus, ReviewState

# The entities a claim and its parts may point at, by the field that names them.
REFERENCED = {"speaker_id": Speaker, "outlet_id": Outlet, "source_id": Source}


class ClaimState(Protocol):
    """What the status rules read of a claim."""

    @property
    def status(self) -> ClaimStatus: ...
    @property
    def review(self) -> ReviewState: ...
    @property
    def verdict(self) -> str | None: ...


# --- status, verdict and review -----------------------------------------------------------------


def status_change_values(claim: ClaimState, change: StatusChange) -> dict[str, Any]:
    """The fields a status change sets (its rules are checked separately)."""
    values: dict[str, Any] = {}
    if change.verdict is not None:
        values["verdict"] = change.verdict.strip()
    if change.status is not None:
        values.update(_status_values(claim, change))
    elif change.review is not None:
        values.update(_review_move(claim, change.review))
    return values


def check_status_permission(claim: ClaimState, change: StatusChange, actor: Actor) -> None:
    """A checker may only take a claim into review (open -> in_review); verdicts, settling
    and reopening are an editor's (seeds and local tools, the system role, may do all)."""
    if actor.role.at_least(Role.editor):
        return
    starts_review = (
        change.status is None
        and change.verdict is None
        and change.review == ReviewState.in_review
        and claim.review in (ReviewState.open, ReviewState.in_review)
    )
    if not starts_review:
        raise errors.Forbidden(
            "A checker may only move a claim's review from open to in_review; verdicts, "
            "settling and reopening need the editor role.",
            required_role=str(Role.editor),
        )


def check_verdict_rules(
    claim: ClaimState, values: dict[str, Any], evidence_count: Callable[[], int]
) -> None:
    """The rules a claim's verdict fields must meet, checked on the values it is about to get.
    ``evidence_count`` is asked only when a status needs evidence."""
    status = values.get("status", claim.status)
    verdict = values.get("verdict", claim.verdict)
    review = values.get("review", claim.review)
    if status != ClaimStatus.unverified:
        if not (verdict and verdict.strip()):
            raise errors.RuleViolation(
                f"Status {status} needs a verdict: the rationale, in words.",
                rule="verdict_required",
                field="verdict",
            )
        if status in STATUSES_NEEDING_EVIDENCE and evidence_count() < 1:
            raise errors.RuleViolation(
                f"Status {status} needs at least one evidence item.",
                rule="evidence_required",
                field="status",
            )
        if review == ReviewState.open:
            raise errors.RuleViolation(
                "A claim with a verdict is in review or settled, not open.",
                rule="review_state",
                field="review",
            )
    elif review == ReviewState.settled:
        raise errors.RuleViolation(
            "Only a claim with a verdict can be settled; set a status first.",
            rule="settle_needs_verdict",
            field="review",
        )


def check_status_rules(
    session: Session, claim: Claim, values: dict[str, Any], *, evidence_removed: int = 0
) -> None:
    """``check_verdict_rules`` on a stored claim, counting its evidence (less what is about to
    be removed) only when the status asks for it."""
    check_verdict_rules(
        claim, values, lambda: _evidence_count(session, claim.id or 0) - evidence_removed
    )


def _evidence_count(session: Session, claim_id: int) -> int:
    statement = sa.select(sa.func.count()).where(col(Evidence.claim_id) == claim_id)
    return int(session.connection().execute(statement).scalar_one())


def _status_values(claim: ClaimState, change: StatusChange) -> dict[str, Any]:
    if change.status == ClaimStatus.unverified:
        if change.verdict is not None:
            raise errors.RuleViolation(
                "An unverified claim carries no verdict.",
                rule="unverified_has_no_verdict",
                field="verdict",
            )
        review = change.review or (
            ReviewState.open if claim.review == ReviewState.settled else claim.review
        )
        if review == ReviewState.settled:
            raise errors.RuleViolation(
                "Only a claim with a verdict can be settled.",
                rule="settle_needs_verdict",
                field="review",
            )
        return {"status": change.status, "verdict": None, "reviewed_at": None, "review": review}
    if change.review not in (None, ReviewState.settled):
        raise errors.RuleViolation(
            "Giving a verdict settles the review; reopen it afterwards if needed.",
            rule="verdict_settles_review",
            field="review",
        )
    values: dict[str, Any] = {"status": change.status, "review": ReviewState.settled}
    if change.status != claim.status or change.verdict is not None:
        values["reviewed_at"] = utcnow()
    return values


def _review_move(claim: ClaimState, target: ReviewState) -> dict[str, Any]:
    if target == claim.review:
        return {}
    if claim.review == ReviewState.settled and target == ReviewState.open:
        raise errors.RuleViolation(
            "A settled claim is reopened into in_review, not open.",
            rule="reopen_to_in_review",
            field="review",
        )
    values: dict[str, Any] = {"review": target}
    if target == ReviewState.settled:
        values["reviewed_at"] = utcnow()
    return values


# --- appearances --------------------------------------------------------------------------------


def check_appearance_count(count: int) -> None:
    """A claim holds at most MAX_APPEARANCES appearances; ``count`` is what it would hold."""
    if count > MAX_APPEARANCES:
        raise errors.RuleViolation(
            f"A claim holds at most {MAX_APPEARANCES} appearances; this would make {count}.",
            rule="appearance_limit",
            field="source_id",
            max_appearances=MAX_APPEARANCES,
        )


# --- references ---------------------------------------------------------------------------------


@overload
def check_references(session: Session, values: dict[str, Any]) -> None: ...
@overload
def check_references(session: Session, values: dict[str, Any], *, reserve_id_of: Table) -> int: ...
def check_references(
    session: Session, values: dict[str, Any], *, reserve_id_of: Table | None = None
) -> int | None:
    """Every speaker, outlet or source ``values`` names exists and is not deleted: one
    statement for them all, none when it names none. With ``reserve_id_of``, the same
    statement reserves the id of the row about to be inserted there, and returns it."""
    named = {field: values[field] for field in REFERENCED if values.get(field) is not None}
    conn = session.connection()
    columns: list[ColumnElement[Any]] = [
        _liveness(REFERENCED[field], entity_id) for field, entity_id in named.items()
    ]
    if reserve_id_of is not None:
        columns.append(next_id(reserve_id_of, conn.dialect.name))
    if not columns:
        return None
    row = conn.execute(sa.select(*columns)).one()
    for (field, entity_id), live in zip(named.items(), row, strict=False):
        if not live:
            raise reference_missing(field, entity_id, deleted=live is not None)
    return int(row[-1]) if reserve_id_of is not None else None


def _liveness(model: type[Any], entity_id: int) -> sa.ScalarSelect[Any]:
    """True for a live entity, False for a deleted one, NULL when there is none."""
    return sa.select(model.deleted_at.is_(None)).where(model.id == entity_id).scalar_subquery()


def require_known(live: dict[str, dict[int, bool]], field: str, entity_id: int | None) -> None:
    """``check_references`` against ids looked up for a whole batch: ``live[field]`` maps each
    id that exists to whether it is still live."""
    if entity_id is None or live[field].get(entity_id):
        return
    raise reference_missing(field, entity_id, deleted=entity_id in live[field])


def reference_missing(field: str, entity_id: int, *, deleted: bool) -> errors.RuleViolation:
    state = "was deleted" if deleted else "does not exist"
    return errors.RuleViolation(
        f"{field} {entity_id} {state}.", rule="reference_missing", field=field
    )
