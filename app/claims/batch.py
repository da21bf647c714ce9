"""Many new claims at once, for the imports' batch path: rows instead of ORM objects, one
INSERT per table, ONE creation revision per claim whose snapshot already holds its
appearances, evidence and verdict. Each item is checked under the rules of the single writes,
in their order (rules.py). The invariant this serves is stated in app/imports/batch.py.
"""

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic_core import to_jsonable_python
from sqlalchemy import Connection
from sqlmodel import Session

from app.auth.actor import Actor
from app.claims import rules
from app.claims.models import (
    Appearance,
    AppearanceCreate,
    Claim,
    ClaimCreate,
    Evidence,
    EvidenceCreate,
    StatusChange,
)
from app.claims.service import APPEARANCE_FIELDS, CLAIMS, EVIDENCE_FIELDS
from app.core import errors
from app.core.base import utcnow
from app.core.bulk import insert_rows
from app.core.db import in_chunks
from app.history import service as history_service
from app.tracked import rows as batch_rows
from app.tracked.rows import Row
from app.vocabulary.enums import ClaimStatus, ReviewState

evidence_table = Evidence.__table__  # type: ignore[attr-defined]
appearance_table = Appearance.__table__  # type: ignore[attr-defined]


@dataclasses.dataclass
class NewClaim:
    """A claim to create together with its appearances, evidence and status change."""

    claim: ClaimCreate
    appearances: list[AppearanceCreate] = dataclasses.field(default_factory=list)
    evidence: list[EvidenceCreate] = dataclasses.field(default_factory=list)
    status: StatusChange | None = None


def create_claims(
    session: Session, new_claims: Sequence[NewClaim], *, actor: Actor, reason: str | None = None
) -> list[int | errors.AppError]:
    """Create each item as ``create_claim``, ``add_appearance``, ``add_evidence`` and
    ``set_status`` would, with one INSERT per table for the whole batch. Returns, in order,
    the new claim's id or the rule the item broke; items that broke a rule write nothing.
    Commits once."""
    conn = session.connection()
    source_ids: set[int | None] = {p.source_id for item in new_claims for p in item.appearances}
    source_ids.update(part.source_id for item in new_claims for part in item.evidence)
    live = {
        "speaker_id": _live_ids(conn, "speaker_id", {item.claim.speaker_id for item in new_claims}),
        "outlet_id": _live_ids(conn, "outlet_id", {item.claim.outlet_id for item in new_claims}),
        "source_id": _live_ids(conn, "source_id", source_ids),
    }
    now = utcnow()
    outcomes: list[_NewRows | errors.AppError] = []
    for item in new_claims:
        try:
            outcomes.append(_new_rows(item, live, actor, now))
        except errors.AppError as exc:
            outcomes.append(exc)
    accepted = [outcome for outcome in outcomes if isinstance(outcome, _NewRows)]
    if accepted:
        _write(session, accepted, actor=actor, reason=reason)
        session.commit()
    return [
        outcome if isinstance(outcome, errors.AppError) else outcome.claim["id"]
        for outcome in outcomes
    ]


@dataclasses.dataclass
class _NewRows:
    claim: Row
    evidence: list[Row]
    appearances: list[Row]

    def snapshot(self) -> dict[str, Any]:
        """``ClaimService.snapshot`` of the claim these rows make."""
        data = batch_rows.row_snapshot(self.claim)
        data["evidence"] = [_pick_row(row, EVIDENCE_FIELDS) for row in self.evidence]
        data["appearances"] = [_pick_row(row, APPEARANCE_FIELDS) for row in self.appearances]
        return data


@dataclasses.dataclass(frozen=True, slots=True)
class _NewClaimState:
    status: ClaimStatus
    review: ReviewState
    verdict: str | None


def _pick_row(row: Row, fields: tuple[str, ...]) -> dict[str, Any]:
    picked: dict[str, Any] = to_jsonable_python({name: row[name] for name in fields})
    return picked


def _new_rows(
    item: NewClaim, live: dict[str, dict[int, bool]], actor: Actor, now: datetime
) -> _NewRows:
    """The rows one item writes, after every rule its single writes would check."""
    rules.require_known(live, "speaker_id", item.claim.speaker_id)
    rules.require_known(live, "outlet_id", item.claim.outlet_id)
    claim = CLAIMS.new_row(item.claim)
    rules.check_appearance_count(len(item.appearances))
    appearances: list[Row] = []
    seen: set[tuple[int, str]] = set()  # a set, not a scan of the list: linear in appearances
    for appearance_in in item.appearances:
        rules.require_known(live, "source_id", appearance_in.source_id)
        key = (appearance_in.source_id, str(appearance_in.role))
        if key in seen:
            raise errors.Conflict("The claim would have this appearance twice.")
        seen.add(key)
        appearances.append({"created_at": now, **appearance_in.model_dump()})
    evidence: list[Row] = []
    for evidence_in in item.evidence:
        rules.require_known(live, "source_id", evidence_in.source_id)
        evidence.append({"added_by": actor.name, "created_at": now, **evidence_in.model_dump()})
    if item.status is not None:
        state = _NewClaimState(claim["status"], claim["review"], claim["verdict"])
        rules.check_status_permission(state, item.status, actor)
        values = rules.status_change_values(state, item.status)
        rules.check_verdict_rules(state, values, lambda: len(evidence))
        claim.update(values)
    return _NewRows(claim, evidence, appearances)


def _write(session: Session, accepted: list[_NewRows], *, actor: Actor, reason: str | None) -> None:
    conn = session.connection()
    all_evidence = [row for new in accepted for row in new.evidence]
    all_appearances = [row for new in accepted for row in new.appearances]
    for table, parts in ((evidence_table, all_evidence), (appearance_table, all_appearances)):
        ids = history_service.reserve_ids(conn, table, len(parts))
        for part, part_id in zip(parts, ids, strict=True):
            part["id"] = part_id
    claims = [new.claim for new in accepted]
    batch_rows.create_many(
        session,
        Claim,
        claims,
        entity_type=CLAIMS.entity_type,
        actor=actor,
        reason=reason,
        snapshots=[new.snapshot() for new in accepted],
    )
    CLAIMS.after_create_many(session, claims)
    for new in accepted:
        for part in (*new.evidence, *new.appearances):
            part["claim_id"] = new.claim["id"]
    for table, rows in ((evidence_table, all_evidence), (appearance_table, all_appearances)):
        insert_rows(conn, table, rows)


def _live_ids(conn: Connection, field: str, ids: set[int | None]) -> dict[int, bool]:
    """{id: still live} for the ids of ``field`` that exist (deleted ones map to False)."""
    table = rules.REFERENCED[field].__table__  # type: ignore[attr-defined]
    found: dict[int, bool] = {}
    for chunk in in_chunks(sorted(i for i in ids if i is not None)):
        rows = conn.execute(sa.select(table.c.id, table.c.deleted_at).where(table.c.id.in_(chunk)))
        found.update((row.id, row.deleted_at is None) for row in rows)
    return found
