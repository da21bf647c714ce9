"""A claim's single writes: create, change, status, delete, restore, revert. Each is one
transaction that commits once, its revision included.

What is the claim's own: its snapshot lists its evidence and appearances, its topics are kept
in an index table, its references must be live, and a change to what a settled verdict rests
on reopens the review (settlement.py). The rules themselves are in rules.py.
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, SQLModel, col, select

from app.auth.actor import Actor
from app.claims import rules, settlement
from app.claims.models import (
    Appearance,
    Claim,
    ClaimCreate,
    ClaimRevertable,
    ClaimTopic,
    ClaimUpdate,
    Evidence,
    StatusChange,
)
from app.history import writes
from app.history.models import EntityType, RevisionAction
from app.history.tracked import load_for_write

ENTITY = EntityType.claim
NOT_NULL = frozenset({"statement", "language", "topics"})
# The fields of a claim's evidence and appearances its snapshot holds.
EVIDENCE_FIELDS = ("id", "title", "stance", "url", "source_id", "note", "added_by")
APPEARANCE_FIELDS = ("id", "source_id", "role", "quote")
topic_table = ClaimTopic.__table__  # type: ignore[attr-defined]


def claim_snapshot(session: Session) -> Callable[[Any], dict[str, Any]]:
    """The claim as history records it: its fields plus its evidence and appearances."""

    def snapshot(claim: Claim) -> dict[str, Any]:
        data = writes.plain_snapshot(claim)
        data["evidence"] = []
        data["appearances"] = []
        if claim.id is None:
            return data
        evidence = session.exec(
            select(Evidence).where(col(Evidence.claim_id) == claim.id).order_by(col(Evidence.id))
        )
        data["evidence"] = [_pick(item, EVIDENCE_FIELDS) for item in evidence]
        appearances = session.exec(
            select(Appearance)
            .where(col(Appearance.claim_id) == claim.id)
            .order_by(col(Appearance.id))
        )
        data["appearances"] = [_pick(item, APPEARANCE_FIELDS) for item in appearances]
        return data

    return snapshot


def _pick(item: SQLModel, fields: tuple[str, ...]) -> dict[str, Any]:
    return item.model_dump(mode="json", include=set(fields))


def distinct_topics(topics: list[str]) -> list[str]:
    """The topics in their first order, each once (they arrive folded to lower case)."""
    return list(dict.fromkeys(topics))


def _sync_topics(session: Session, claim: Claim, previous: list[str] | None = None) -> None:
    """Rewrite the claim's rows in the topic index, unless its topics did not change."""
    assert claim.id is not None
    if previous is not None and previous == claim.topics:
        return
    session.exec(delete(topic_table).where(topic_table.c.claim_id == claim.id))
    session.add_all(ClaimTopic(claim_id=claim.id, topic=topic) for topic in claim.topics)
    session.flush()


def create_claim(
    session: Session, claim_in: ClaimCreate, *, actor: Actor, reason: str | None = None
) -> Claim:
    rules.check_references(session, claim_in.model_dump(include={"speaker_id", "outlet_id"}))
    claim = Claim.model_validate(claim_in)
    claim.topics = distinct_topics(claim_in.topics)
    writes.create(
        session,
        claim,
        entity_type=ENTITY,
        actor=actor,
        reason=reason,
        snapshot=claim_snapshot(session),
    )
    _sync_topics(session, claim)
    session.commit()
    return claim


def update_claim(
    session: Session,
    claim_id: int,
    claim_in: ClaimUpdate,
    *,
    expect: writes.Expect,
    actor: Actor,
    reason: str | None = None,
) -> Claim:
    values = writes.changed_fields(claim_in, not_null=NOT_NULL)
    rules.check_references(session, values)
    if "topics" in values:
        values["topics"] = distinct_topics(values["topics"])
    claim = load_for_write(session, Claim, claim_id)
    expect.check(claim)
    reason = settlement.reopen_on_basis_change(claim, values, reason)
    topics_before = list(claim.topics)
    if writes.update(
        session,
        claim,
        values,
        entity_type=ENTITY,
        actor=actor,
        reason=reason,
        snapshot=claim_snapshot(session),
    ):
        _sync_topics(session, claim, topics_before)
        session.commit()
    return claim


def set_status(
    session: Session,
    claim_id: int,
    change: StatusChange,
    *,
    expect: writes.Expect,
    actor: Actor,
) -> Claim:
    """A verdict, a review move, or both (DESIGN.md, "Verification status and review")."""
    claim = load_for_write(session, Claim, claim_id)
    rules.check_status_permission(claim, change, actor)
    expect.check(claim)
    values = rules.status_change_values(claim, change)
    rules.check_status_rules(session, claim, values)
    if writes.update(
        session,
        claim,
        values,
        entity_type=ENTITY,
        actor=actor,
        reason=change.reason,
        snapshot=claim_snapshot(session),
    ):
        session.commit()
    return claim


def delete_claim(
    session: Session, claim_id: int, *, expect: writes.Expect, actor: Actor, reason: str | None
) -> Claim:
    return writes.delete_entity(
        session,
        Claim,
        claim_id,
        entity_type=ENTITY,
        expect=expect,
        actor=actor,
        reason=reason,
        snapshot=claim_snapshot(session),
    )


def restore_claim(
    session: Session, claim_id: int, *, expect: writes.Expect, actor: Actor, reason: str | None
) -> Claim:
    return writes.restore_entity(
        session,
        Claim,
        claim_id,
        entity_type=ENTITY,
        expect=expect,
        actor=actor,
        reason=reason,
        snapshot=claim_snapshot(session),
    )


def revert_claim(
    session: Session,
    claim_id: int,
    to_version: int,
    *,
    expect: writes.Expect,
    actor: Actor,
    reason: str | None,
) -> Claim:
    """Bring back a version's fields and verdict; evidence and appearances stay as they are."""
    claim = load_for_write(session, Claim, claim_id)
    expect.check(claim)
    reason = writes.require_reason(reason, "revert")
    values = writes.reverted_values(
        session, claim, entity_type=ENTITY, to_version=to_version, update_model=ClaimRevertable
    )
    rules.check_references(session, values)
    rules.check_status_rules(session, claim, values)
    # Bringing back an old statement under today's settled verdict reopens it like an edit.
    reason = settlement.reopen_on_basis_change(claim, values, reason)
    topics_before = list(claim.topics)
    if writes.update(
        session,
        claim,
        values,
        entity_type=ENTITY,
        actor=actor,
        reason=reason,
        snapshot=claim_snapshot(session),
        action=RevisionAction.reverted,
        reverted_to=to_version,
    ):
        _sync_topics(session, claim, topics_before)
        session.commit()
    return claim


WRITES = writes.TrackedWrites(
    create=create_claim,
    update=update_claim,
    delete=delete_claim,
    restore=restore_claim,
    revert=revert_claim,
)
