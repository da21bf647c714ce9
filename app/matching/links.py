"""The desk's decisions on pairs of claims: confirm (a link, ``duplicate`` or ``related``),
reject (never suggested again), and merge. Each is ONE transaction that records a revision of
BOTH claims (their snapshots' ``links``, app/matching/snapshot.py: who, when and why in the
revision, the method and score in the link), through the claim service's own flush-level
steps, so the history is never bypassed. The two claims are locked in id order."""

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from app.auth.actor import Actor
from app.claims import settlement
from app.claims.models import Appearance, Claim, Evidence
from app.claims.service import ClaimService
from app.core import errors
from app.core.base import utcnow
from app.history.models import RevisionAction
from app.matching.models import ClaimMatch, MatchedField, MatchRelation, MatchState
from app.matching.normalize import normalize
from app.matching.search import score
from app.tracked.versions import NO_PRECONDITION, Expected

T = TypeVar("T")
match_table = ClaimMatch.__table__  # type: ignore[attr-defined]
evidence_table = Evidence.__table__  # type: ignore[attr-defined]
appearance_table = Appearance.__table__  # type: ignore[attr-defined]
MANUAL = "manual"


def pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


class LinkService(ClaimService):
    """The claim service, with the writes that change two claims at once."""

    def confirm(
        self,
        session: Session,
        match_id: int,
        relation: MatchRelation,
        *,
        actor: Actor,
        reason: str | None,
    ) -> ClaimMatch:
        """Link the pair's claims as ``relation``; confirming it again with another relation
        changes the link, with the same relation changes nothing."""
        return self._decide(
            session, match_id, MatchState.confirmed, relation, actor=actor, reason=reason
        )

    def reject(
        self, session: Session, match_id: int, *, actor: Actor, reason: str | None
    ) -> ClaimMatch:
        """The pair says different things: it stays, rejected, and is never suggested again."""
        return self._decide(
            session, match_id, MatchState.rejected, None, actor=actor, reason=reason
        )

    def _decide(
        self,
        session: Session,
        match_id: int,
        state: MatchState,
        relation: MatchRelation | None,
        *,
        actor: Actor,
        reason: str | None,
    ) -> ClaimMatch:
        """The desk's decision on a pair, recorded in both claims' history."""
        found = _match(session, match_id)
        if found.merged_into_id is not None:
            raise errors.Conflict(f"Match {match_id} was merged; a merge is not undone here.")

        def decide() -> ClaimMatch:
            _decided(found, state, relation, actor=actor, reason=reason)
            return found

        return self._on_pair(session, found, decide, actor=actor, reason=reason)

    def link(
        self,
        session: Session,
        claim_id: int,
        other_id: int,
        relation: MatchRelation,
        *,
        method: str,
        value: float,
        matched_field: MatchedField,
        actor: Actor,
        reason: str | None,
    ) -> ClaimMatch:
        """Link two claims found alike (an import's ``on_duplicate=link``): the pair stored
        confirmed, unless the desk already rejected it. Flushes only (the import commits)."""
        found = _pair_row(session, claim_id, other_id, method, value, matched_field)
        if found.state is MatchState.rejected:
            return found

        def decide() -> ClaimMatch:
            _decided(found, MatchState.confirmed, relation, actor=actor, reason=reason)
            return found

        return self._on_pair(session, found, decide, actor=actor, reason=reason, commit=False)

    def merge(
        self,
        session: Session,
        claim_id: int,
        into: int,
        *,
        expect: Expected,
        expect_into: Expected = NO_PRECONDITION,
        actor: Actor,
        reason: str,
    ) -> tuple[Claim, Claim]:
        """Merge ``claim_id`` into ``into``: its evidence and appearances move to the survivor
        (an appearance the survivor already has is dropped), it is deleted (410, pointing at
        the survivor), and the pair is confirmed as a duplicate merged into ``into``. Both
        histories show it; a survivor with a settled verdict whose evidence grew is reopened.
        Returns (merged, survivor)."""
        if claim_id == into:
            raise errors.RuleViolation(
                "A claim cannot be merged into itself.", rule="merge_into_self", field="into"
            )
        loaded = {}
        for entity_id in sorted((claim_id, into)):  # lock in id order: no deadlock
            loaded[entity_id] = self.load_for_change(session, entity_id, allow_deleted=True)
        merged, merged_before = loaded[claim_id]
        survivor, survivor_before = loaded[into]
        for claim, before in ((merged, merged_before), (survivor, survivor_before)):
            for link in before.get("links", []):
                if link["merged_into_id"] is not None and link["merged_into_id"] != claim.id:
                    raise errors.Conflict(
                        f"Claim {claim.id} was already merged into {link['merged_into_id']}.",
                        merged_into=link["merged_into_id"],
                    )
        if merged.deleted_at is not None:
            raise errors.Gone(f"claim {claim_id} was deleted; restore it to merge it.")
        if survivor.deleted_at is not None:
            raise errors.RuleViolation(
                f"Claim {into} was deleted: merge into a live claim.",
                rule="merge_into_deleted",
                field="into",
            )
        expect.check(merged.version)
        expect_into.check(survivor.version)
        _move_parts(session, merged.id, survivor.id)  # type: ignore[arg-type]
        value = score(normalize(merged.statement), normalize(survivor.statement))
        found = _pair_row(session, claim_id, into, MANUAL, value, MatchedField.statement)
        _decided(found, MatchState.confirmed, MatchRelation.duplicate, actor=actor, reason=reason)
        found.merged_into_id = into
        merged.deleted_at = utcnow()
        session.flush()
        merged_after = self.snapshot(session, merged)
        self._record_change(
            session,
            merged,
            merged_before,
            after=merged_after,
            actor=actor,
            reason=f"Merged into claim {into}: {reason}",
            action=RevisionAction.deleted,
        )
        survivor_after = self.snapshot(session, survivor)
        survivor_reason: str | None = f"Claim {claim_id} merged into this one: {reason}"
        if survivor_after["evidence"] != survivor_before["evidence"]:
            reopen: dict[str, Any] = {}
            survivor_reason = settlement.reopen_on_basis_change(
                survivor, reopen, survivor_reason, evidence_changed=True
            )
            for field, new in reopen.items():
                setattr(survivor, field, new)
            survivor_after = self.snapshot_after(session, survivor, survivor_after)
        self._record_change(
            session,
            survivor,
            survivor_before,
            after=survivor_after,
            actor=actor,
            reason=survivor_reason,
        )
        session.commit()
        return merged, survivor

    # --- steps ------------------------------------------------------------------------------

    def _on_pair(
        self,
        session: Session,
        found: ClaimMatch,
        decide: Callable[[], T],
        *,
        actor: Actor,
        reason: str | None,
        commit: bool = True,
    ) -> T:
        """``decide`` (a change of the pair) as a revision of each of its two claims, locked
        in id order; nothing is recorded for a decision that changes nothing."""
        loaded = [
            self._load(session, entity_id, expect=NO_PRECONDITION)
            for entity_id in (found.claim_id, found.other_id)
        ]
        result = decide()
        session.flush()
        recorded = False
        for claim, before in loaded:
            after = self.snapshot(session, claim)
            recorded |= self._record_change(
                session, claim, before, after=after, actor=actor, reason=reason
            )
        if commit and recorded:
            session.commit()
        return result


def _match(session: Session, match_id: int) -> ClaimMatch:
    found = session.get(ClaimMatch, match_id)
    if found is None:
        raise errors.NotFound(f"No match with id {match_id}.")
    return found


def _pair_row(
    session: Session,
    claim_id: int,
    other_id: int,
    method: str,
    value: float,
    matched_field: MatchedField,
) -> ClaimMatch:
    """The stored pair of these claims, or a new one (suggested) if there is none."""
    low, high = pair(claim_id, other_id)
    statement = sa.select(ClaimMatch).where(
        match_table.c.claim_id == low, match_table.c.other_id == high
    )
    found: ClaimMatch | None = session.exec(statement).scalars().first()  # type: ignore[call-overload]
    if found is None:
        found = ClaimMatch(
            claim_id=low,
            other_id=high,
            state=MatchState.suggested,
            method=method,
            score=round(value, 4),
            matched_field=matched_field,
            created_at=utcnow(),
        )
        session.add(found)
        session.flush()
    return found


def _decided(
    found: ClaimMatch,
    state: MatchState,
    relation: MatchRelation | None,
    *,
    actor: Actor,
    reason: str | None,
) -> None:
    if found.state is state and found.relation is relation:
        return
    found.state = state
    found.relation = relation
    found.decided_at = utcnow()
    found.decided_by = actor.name
    found.reason = reason


def _move_parts(session: Session, merged_id: int, survivor_id: int) -> None:
    """The merged claim's evidence and appearances to the survivor; an appearance the
    survivor already has (same source and role) is dropped rather than doubled."""
    conn = session.connection()
    a = appearance_table.c
    kept = sa.select(a.source_id, a.role).where(a.claim_id == survivor_id)
    held = {(row.source_id, row.role) for row in conn.execute(kept)}
    mine = conn.execute(sa.select(a.id, a.source_id, a.role).where(a.claim_id == merged_id))
    doubled = [row.id for row in mine if (row.source_id, row.role) in held]
    if doubled:
        conn.execute(sa.delete(appearance_table).where(a.id.in_(doubled)))
    conn.execute(
        sa.update(appearance_table).where(a.claim_id == merged_id).values(claim_id=survivor_id)
    )
    e = evidence_table.c
    conn.execute(
        sa.update(evidence_table).where(e.claim_id == merged_id).values(claim_id=survivor_id)
    )


LINKS = LinkService()
