"""A claim's single writes, on the tracked-entity kit: create, change, status, delete, restore,
revert, and the change of its parts. Each is one transaction that commits once, its revision
included.

``ClaimService`` adds to ``TrackedService`` only what is the claim's own: its snapshot lists
its evidence and appearances, its topics are kept in an index table, its references must be
live, a change to what a settled verdict rests on reopens the review (settlement.py), and the
status change. The rules themselves are in rules.py; evidence and appearances in parts.py.
"""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import delete, insert
from sqlmodel import Session, col, select

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
from app.history.models import EntityType, RevisionAction
from app.tracked.lookup import load_for_write
from app.tracked.rows import Row
from app.tracked.service import TrackedService
from app.tracked.values import plain_snapshot
from app.tracked.versions import Expected

# The fields of a claim's evidence and appearances its snapshot holds.
EVIDENCE_FIELDS = ("id", "title", "stance", "url", "source_id", "note", "added_by")
APPEARANCE_FIELDS = ("id", "source_id", "role", "quote")
# The fields a verdict is made of: a write that sets any of them meets the verdict rules.
VERDICT_FIELDS = frozenset({"status", "verdict", "review", "reviewed_at"})
topic_table = ClaimTopic.__table__  # type: ignore[attr-defined]
PartT = TypeVar("PartT")


class ClaimService(TrackedService[Claim, ClaimCreate, ClaimUpdate]):
    model = Claim
    entity_type = EntityType.claim
    update_model = ClaimUpdate
    revert_model = ClaimRevertable  # a revert brings back the verdict fields too
    not_null = frozenset({"statement", "language", "topics"})

    # --- hooks ----------------------------------------------------------------------------

    def snapshot(self, session: Session, entity: Claim) -> dict[str, Any]:
        """The claim as history records it: its fields plus its evidence and appearances."""
        data = plain_snapshot(entity)
        data["evidence"] = []
        data["appearances"] = []
        if entity.id is None:
            return data
        data["evidence"] = _parts(session, Evidence, entity.id, EVIDENCE_FIELDS)
        data["appearances"] = _parts(session, Appearance, entity.id, APPEARANCE_FIELDS)
        return data

    def normalize(self, values: dict[str, Any], current: Claim | None) -> dict[str, Any]:
        if "topics" in values:
            values["topics"] = list(dict.fromkeys(values["topics"]))  # first order, once each
        return values

    def check_request(self, session: Session, values: dict[str, Any]) -> None:
        """The speaker, outlet and source named must exist and be live."""
        rules.check_references(session, values)

    def check_rules(self, session: Session, entity: Claim | None, values: dict[str, Any]) -> None:
        """The verdict rules, for a write that sets verdict fields (a revert: a PATCH cannot,
        and a status change checks them itself in ``set_status``)."""
        if entity is not None and not values.keys().isdisjoint(VERDICT_FIELDS):
            rules.check_status_rules(session, entity, values)

    def after_change(self, session: Session, entity: Claim, before: dict[str, Any] | None) -> None:
        """Rewrite the claim's rows in the topic index, unless its topics did not change."""
        assert entity.id is not None
        if before is not None and before["topics"] == entity.topics:
            return
        session.exec(delete(topic_table).where(topic_table.c.claim_id == entity.id))
        session.add_all(ClaimTopic(claim_id=entity.id, topic=topic) for topic in entity.topics)
        session.flush()

    def after_create_many(self, session: Session, rows: Sequence[Row]) -> None:
        """The topic index of claims written as rows: one INSERT for them all."""
        topics = [
            {"claim_id": row["id"], "topic": topic} for row in rows for topic in row["topics"]
        ]
        if topics:
            session.connection().execute(insert(topic_table), topics)

    # --- the claim's own writes --------------------------------------------------------------

    def set_status(
        self,
        session: Session,
        claim_id: int,
        change: StatusChange,
        *,
        expect: Expected,
        actor: Actor,
    ) -> Claim:
        """A verdict, a review move, or both (DESIGN.md, "Verification status and review").
        Who may make it is checked before the If-Match."""
        claim = load_for_write(session, Claim, claim_id)
        rules.check_status_permission(claim, change, actor)
        expect.check(claim.version)
        values = rules.status_change_values(claim, change)
        rules.check_status_rules(session, claim, values)
        if self._change(session, claim, values, actor=actor, reason=change.reason):
            session.commit()
        return claim

    def change_parts(
        self,
        session: Session,
        claim_id: int,
        mutate: Callable[[Claim], PartT],
        *,
        expect: Expected,
        actor: Actor,
        reason: str | None,
    ) -> tuple[Claim, PartT]:
        """Change the claim's evidence or appearances (``mutate`` does) as one revision of
        the claim; a change of evidence under a settled verdict reopens its review. A change
        that changes nothing records and commits nothing."""
        claim = self._load(session, claim_id, expect=expect)
        before = self.snapshot(session, claim)
        result = mutate(claim)
        session.flush()
        after = self.snapshot(session, claim)
        if after["evidence"] != before["evidence"]:
            reopen: dict[str, Any] = {}
            reason = settlement.reopen_on_basis_change(claim, reopen, reason, evidence_changed=True)
            if reopen:
                for field, value in reopen.items():
                    setattr(claim, field, value)
                after = self.snapshot(session, claim)
        if self._record_change(session, claim, before, after=after, actor=actor, reason=reason):
            session.commit()
        return claim, result

    # --- steps ------------------------------------------------------------------------------

    def _change(
        self,
        session: Session,
        entity: Claim,
        values: dict[str, Any],
        *,
        actor: Actor,
        reason: str | None,
        action: RevisionAction = RevisionAction.updated,
        reverted_to: int | None = None,
        before: dict[str, Any] | None = None,
    ) -> bool:
        """Every change of a claim's fields: one that changes what a settled verdict rests on
        (an edit, a revert) reopens the review, and its revision's reason says so."""
        reason = settlement.reopen_on_basis_change(entity, values, reason)
        return super()._change(
            session,
            entity,
            values,
            actor=actor,
            reason=reason,
            action=action,
            reverted_to=reverted_to,
            before=before,
        )


def _parts(
    session: Session,
    model: type[Evidence] | type[Appearance],
    claim_id: int,
    fields: tuple[str, ...],
) -> list[dict[str, Any]]:
    """A claim's evidence or appearances as its snapshot holds them, oldest first."""
    items = session.exec(
        select(model).where(col(model.claim_id) == claim_id).order_by(col(model.id))
    )
    return [item.model_dump(mode="json", include=set(fields)) for item in items]


CLAIMS = ClaimService()
# The names the seed loader and the imports call.
create_claim = CLAIMS.create
update_claim = CLAIMS.update
set_status = CLAIMS.set_status
