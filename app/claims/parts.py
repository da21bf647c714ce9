"""A claim's evidence and appearances. They are versioned with their claim: each change is one
revision of the claim, whose snapshot lists them, and their ETag is the claim's."""

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.claims import rules
from app.claims.models import (
    Appearance,
    AppearanceCreate,
    Claim,
    Evidence,
    EvidenceCreate,
    EvidenceUpdate,
)
from app.claims.service import CLAIMS
from app.core import errors
from app.core.base import utcnow
from app.tracked.values import changed_fields, require_reason
from app.tracked.versions import Expected

EVIDENCE_NOT_NULL = frozenset({"title", "stance"})


def add_evidence(
    session: Session,
    claim_id: int,
    evidence_in: EvidenceCreate,
    *,
    expect: Expected,
    actor: Actor,
    reason: str | None = None,
) -> tuple[Claim, Evidence]:
    rules.check_references(session, evidence_in.model_dump(include={"source_id"}))

    def add(claim: Claim) -> Evidence:
        evidence = Evidence(
            claim_id=claim_id,
            added_by=actor.name,
            created_at=utcnow(),
            **evidence_in.model_dump(),
        )
        session.add(evidence)
        return evidence

    return CLAIMS.change_parts(session, claim_id, add, expect=expect, actor=actor, reason=reason)


def update_evidence(
    session: Session,
    claim_id: int,
    evidence_id: int,
    evidence_in: EvidenceUpdate,
    *,
    expect: Expected,
    actor: Actor,
    reason: str | None = None,
) -> tuple[Claim, Evidence]:
    values = changed_fields(evidence_in, not_null=EVIDENCE_NOT_NULL)
    rules.check_references(session, values)

    def change(claim: Claim) -> Evidence:
        evidence: Evidence = _get_part(session, Evidence, evidence_id, claim_id)
        for field, value in values.items():
            setattr(evidence, field, value)
        if evidence.url is None and evidence.source_id is None and not evidence.note:
            raise errors.RuleViolation(
                "Evidence needs a url, a source_id, or a note saying where it is.",
                rule="evidence_target",
                field="url",
            )
        return evidence

    return CLAIMS.change_parts(session, claim_id, change, expect=expect, actor=actor, reason=reason)


def remove_evidence(
    session: Session,
    claim_id: int,
    evidence_id: int,
    *,
    expect: Expected,
    actor: Actor,
    reason: str | None,
) -> Claim:
    reason = require_reason(reason, "remove evidence")

    def remove(claim: Claim) -> None:
        evidence = _get_part(session, Evidence, evidence_id, claim_id)
        rules.check_status_rules(session, claim, {}, evidence_removed=1)
        session.delete(evidence)

    return CLAIMS.change_parts(
        session, claim_id, remove, expect=expect, actor=actor, reason=reason
    )[0]


def add_appearance(
    session: Session,
    claim_id: int,
    appearance_in: AppearanceCreate,
    *,
    expect: Expected,
    actor: Actor,
    reason: str | None = None,
) -> tuple[Claim, Appearance]:
    rules.check_references(session, appearance_in.model_dump(include={"source_id"}))

    def add(claim: Claim) -> Appearance:
        duplicate = session.exec(
            select(Appearance).where(
                col(Appearance.claim_id) == claim_id,
                col(Appearance.source_id) == appearance_in.source_id,
                col(Appearance.role) == appearance_in.role,
            )
        ).first()
        if duplicate is not None:
            raise errors.Conflict(
                f"Claim {claim_id} already has this appearance (id {duplicate.id}).",
                appearance_id=duplicate.id,
            )
        count = session.exec(select(func.count()).where(col(Appearance.claim_id) == claim_id))
        rules.check_appearance_count(count.one() + 1)
        appearance = Appearance(
            claim_id=claim_id, created_at=utcnow(), **appearance_in.model_dump()
        )
        session.add(appearance)
        return appearance

    return CLAIMS.change_parts(session, claim_id, add, expect=expect, actor=actor, reason=reason)


def remove_appearance(
    session: Session,
    claim_id: int,
    appearance_id: int,
    *,
    expect: Expected,
    actor: Actor,
    reason: str | None,
) -> Claim:
    reason = require_reason(reason, "remove an appearance")

    def remove(claim: Claim) -> None:
        session.delete(_get_part(session, Appearance, appearance_id, claim_id))

    return CLAIMS.change_parts(
        session, claim_id, remove, expect=expect, actor=actor, reason=reason
    )[0]


def _get_part(session: Session, model: type[Any], part_id: int, claim_id: int) -> Any:
    part = session.get(model, part_id)
    if part is None or part.claim_id != claim_id:
        raise errors.NotFound(f"Claim {claim_id} has no {model.__tablename__} {part_id}.")
    return part
