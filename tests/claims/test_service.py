"""Claim rules, without HTTP: status and review (DESIGN.md "Verification status and review")."""

import pytest
from sqlmodel import Session

from app.claims import parts as claims_parts
from app.claims import service as claims_service
from app.claims.models import ClaimCreate, ClaimUpdate, StatusChange
from app.core import errors
from app.tracked.versions import NO_PRECONDITION, Expected
from tests import factories
from tests.factories import ACTOR


def change(session: Session, claim_id: int, **values: object) -> object:
    body = StatusChange.model_validate({"reason": "Desk decision", **values})
    return claims_service.set_status(session, claim_id, body, expect=NO_PRECONDITION, actor=ACTOR)


def rule_of(exc: pytest.ExceptionInfo[errors.RuleViolation]) -> str:
    return str(exc.value.extra["rule"])


class TestSetStatus:
    def test_a_verdict_status_needs_a_verdict(self, session: Session) -> None:
        claim = factories.claim(session)
        with pytest.raises(errors.RuleViolation) as exc:
            change(session, claim.id, status="unproven")
        assert rule_of(exc) == "verdict_required"

    def test_confirmed_needs_evidence(self, session: Session) -> None:
        claim = factories.claim(session)
        with pytest.raises(errors.RuleViolation) as exc:
            change(session, claim.id, status="confirmed", verdict="Kremlin confirmed it.")
        assert rule_of(exc) == "evidence_required"
        assert session.get(type(claim), claim.id).status == "unverified"

    @pytest.mark.parametrize("status", ["unproven", "not_checkable", "mixed"])
    def test_some_statuses_need_no_evidence(self, session: Session, status: str) -> None:
        claim = factories.claim(session)
        rated = change(session, claim.id, status=status, verdict="Checked with what we had.")
        assert rated.status == status

    def test_a_verdict_settles_the_review_and_stamps_reviewed_at(self, session: Session) -> None:
        claim = factories.claim(session)
        factories.evidence(session, claim.id)
        rated = change(session, claim.id, status="mostly_true", verdict="Two sources agree.")
        assert rated.review == "settled"
        assert rated.reviewed_at is not None

    def test_reopening_keeps_the_status(self, session: Session) -> None:
        claim = factories.claim(session)
        factories.evidence(session, claim.id)
        factories.rate(session, claim.id, "mostly_true")
        reopened = change(session, claim.id, review="in_review")
        assert reopened.review == "in_review"
        assert reopened.status == "mostly_true"

    def test_a_settled_claim_is_not_reopened_to_open(self, session: Session) -> None:
        claim = factories.claim(session)
        factories.evidence(session, claim.id)
        factories.rate(session, claim.id, "mostly_true")
        with pytest.raises(errors.RuleViolation) as exc:
            change(session, claim.id, review="open")
        assert rule_of(exc) == "reopen_to_in_review"

    def test_an_unverified_claim_cannot_be_settled(self, session: Session) -> None:
        claim = factories.claim(session)
        with pytest.raises(errors.RuleViolation) as exc:
            change(session, claim.id, review="settled")
        assert rule_of(exc) == "settle_needs_verdict"

    def test_moving_back_to_unverified_clears_the_verdict(self, session: Session) -> None:
        claim = factories.claim(session)
        change(session, claim.id, status="unproven", verdict="Not yet.")
        back = change(session, claim.id, status="unverified")
        assert back.verdict is None
        assert back.review == "open"

    def test_removing_the_last_evidence_of_a_confirmed_claim_is_refused(
        self, session: Session
    ) -> None:
        claim = factories.claim(session)
        evidence = factories.evidence(session, claim.id)
        factories.rate(session, claim.id, "confirmed")
        with pytest.raises(errors.RuleViolation) as exc:
            claims_parts.remove_evidence(
                session,
                claim.id,
                evidence.id,
                expect=NO_PRECONDITION,
                actor=ACTOR,
                reason="Oops",
            )
        assert rule_of(exc) == "evidence_required"

    def test_a_stale_version_is_refused(self, session: Session) -> None:
        claim = factories.claim(session)
        with pytest.raises(errors.PreconditionFailed):
            claims_service.set_status(
                session,
                claim.id,
                StatusChange(status="unproven", verdict="x", reason="y"),
                expect=Expected(version=7),
                actor=ACTOR,
            )


class TestUpdateClaim:
    def test_rewording_a_settled_claim_reopens_it_and_keeps_the_verdict(
        self, session: Session
    ) -> None:
        claim = factories.claim(session)
        factories.evidence(session, claim.id, stance="refutes")
        factories.rate(session, claim.id, "false", "It was not.")
        edited = claims_service.update_claim(
            session,
            claim.id,
            ClaimUpdate(statement="Reworded."),
            expect=NO_PRECONDITION,
            actor=ACTOR,
        )
        assert (edited.review, edited.status, edited.verdict) == (
            "in_review",
            "false",
            "It was not.",
        )

    def test_a_settled_claims_place_is_edited_without_reopening(self, session: Session) -> None:
        claim = factories.claim(session)
        change(session, claim.id, status="unproven", verdict="No way to know.")
        edited = claims_service.update_claim(
            session, claim.id, ClaimUpdate(place="Soledar"), expect=NO_PRECONDITION, actor=ACTOR
        )
        assert edited.review == "settled"


class TestReferences:
    def test_an_unknown_speaker_is_a_rule_violation(self, session: Session) -> None:
        with pytest.raises(errors.RuleViolation) as exc:
            claims_service.create_claim(
                session, ClaimCreate(statement="x", speaker_id=999_999), actor=ACTOR
            )
        assert rule_of(exc) == "reference_missing"

    def test_explicit_null_statement_is_refused(self, session: Session) -> None:
        claim = factories.claim(session)
        with pytest.raises(errors.RuleViolation) as exc:
            claims_service.update_claim(
                session,
                claim.id,
                ClaimUpdate(statement=None),
                expect=NO_PRECONDITION,
                actor=ACTOR,
            )
        assert rule_of(exc) == "required_field"

    def test_revert_to_a_version_that_breaks_todays_rules_is_refused(
        self, session: Session
    ) -> None:
        claim = factories.claim(session)
        evidence = factories.evidence(session, claim.id)
        factories.rate(session, claim.id, "confirmed")  # version 3
        change(session, claim.id, status="unverified")  # version 4
        claims_parts.remove_evidence(
            session,
            claim.id,
            evidence.id,
            expect=NO_PRECONDITION,
            actor=ACTOR,
            reason="Link went dead",
        )
        with pytest.raises(errors.RuleViolation) as exc:
            claims_service.CLAIMS.revert(
                session, claim.id, 3, expect=NO_PRECONDITION, actor=ACTOR, reason="Back"
            )
        assert rule_of(exc) == "evidence_required"
