"""The claim's pure rules, without a database: status, verdict and review, who may change
them, and the appearance cap (DESIGN.md "Verification status and review")."""

from dataclasses import dataclass
from typing import Any

import pytest

from app.auth.actor import Actor, Role
from app.claims import rules
from app.claims.models import StatusChange
from app.core import errors
from app.vocabulary.claim import MAX_APPEARANCES
from app.vocabulary.enums import ClaimStatus, ReviewState

EDITOR = Actor(name="editor", role=Role.editor)
CHECKER = Actor(name="checker", role=Role.checker)


@dataclass(frozen=True)
class State:
    status: ClaimStatus = ClaimStatus.unverified
    review: ReviewState = ReviewState.open
    verdict: str | None = None


SETTLED = State(ClaimStatus.false, ReviewState.settled, "It was not.")


def change(**values: Any) -> StatusChange:
    return StatusChange.model_validate({"reason": "Desk decision", **values})


def rule_of(exc: pytest.ExceptionInfo[errors.RuleViolation]) -> str:
    return str(exc.value.extra["rule"])


def no_evidence() -> int:
    return 0


class TestStatusChangeValues:
    def test_a_verdict_settles_and_stamps_reviewed_at(self) -> None:
        values = rules.status_change_values(State(), change(status="false", verdict=" No. "))
        assert values["verdict"] == "No."
        assert (values["status"], values["review"]) == ("false", "settled")
        assert values["reviewed_at"] is not None

    def test_the_same_status_without_a_verdict_keeps_reviewed_at(self) -> None:
        values = rules.status_change_values(SETTLED, change(status="false"))
        assert "reviewed_at" not in values

    def test_back_to_unverified_clears_the_verdict_and_reopens(self) -> None:
        values = rules.status_change_values(SETTLED, change(status="unverified"))
        assert values == {
            "status": "unverified",
            "verdict": None,
            "reviewed_at": None,
            "review": "open",
        }

    def test_an_unverified_claim_carries_no_verdict(self) -> None:
        with pytest.raises(errors.RuleViolation) as exc:
            rules.status_change_values(State(), change(status="unverified", verdict="x"))
        assert rule_of(exc) == "unverified_has_no_verdict"

    def test_a_verdict_cannot_leave_the_review_open(self) -> None:
        with pytest.raises(errors.RuleViolation) as exc:
            rules.status_change_values(State(), change(status="false", review="in_review"))
        assert rule_of(exc) == "verdict_settles_review"

    def test_a_settled_claim_reopens_to_in_review_not_open(self) -> None:
        with pytest.raises(errors.RuleViolation) as exc:
            rules.status_change_values(SETTLED, change(review="open"))
        assert rule_of(exc) == "reopen_to_in_review"

    def test_moving_to_the_current_review_changes_nothing(self) -> None:
        assert rules.status_change_values(SETTLED, change(review="settled")) == {}


class TestCheckVerdictRules:
    def test_a_status_needs_a_verdict(self) -> None:
        with pytest.raises(errors.RuleViolation) as exc:
            rules.check_verdict_rules(State(), {"status": "unproven"}, no_evidence)
        assert rule_of(exc) == "verdict_required"

    def test_a_status_needing_evidence_counts_it(self) -> None:
        values = {"status": "confirmed", "verdict": "Seen.", "review": "settled"}
        with pytest.raises(errors.RuleViolation) as exc:
            rules.check_verdict_rules(State(), values, no_evidence)
        assert rule_of(exc) == "evidence_required"
        rules.check_verdict_rules(State(), values, lambda: 1)

    def test_evidence_is_not_counted_when_the_status_needs_none(self) -> None:
        def never() -> int:
            raise AssertionError("counted")

        rules.check_verdict_rules(
            State(), {"status": "unproven", "verdict": "?", "review": "settled"}, never
        )

    def test_a_verdict_is_never_open(self) -> None:
        with pytest.raises(errors.RuleViolation) as exc:
            rules.check_verdict_rules(State(), {"status": "unproven", "verdict": "?"}, no_evidence)
        assert rule_of(exc) == "review_state"

    def test_only_a_verdict_can_be_settled(self) -> None:
        with pytest.raises(errors.RuleViolation) as exc:
            rules.check_verdict_rules(State(), {"review": "settled"}, no_evidence)
        assert rule_of(exc) == "settle_needs_verdict"


class TestCheckStatusPermission:
    def test_a_checker_may_start_a_review(self) -> None:
        rules.check_status_permission(State(), change(review="in_review"), CHECKER)

    @pytest.mark.parametrize(
        "body",
        [{"status": "false", "verdict": "No."}, {"verdict": "No."}, {"review": "settled"}],
    )
    def test_a_checker_may_not_rate_or_settle(self, body: dict[str, Any]) -> None:
        with pytest.raises(errors.Forbidden):
            rules.check_status_permission(State(), change(**body), CHECKER)

    def test_a_checker_may_not_reopen(self) -> None:
        with pytest.raises(errors.Forbidden):
            rules.check_status_permission(SETTLED, change(review="in_review"), CHECKER)

    def test_an_editor_may_do_all(self) -> None:
        rules.check_status_permission(SETTLED, change(review="in_review"), EDITOR)


class TestAppearanceCount:
    def test_the_cap_itself_is_allowed(self) -> None:
        rules.check_appearance_count(MAX_APPEARANCES)

    def test_one_more_is_refused(self) -> None:
        with pytest.raises(errors.RuleViolation) as exc:
            rules.check_appearance_count(MAX_APPEARANCES + 1)
        assert rule_of(exc) == "appearance_limit"


class TestRequireKnown:
    LIVE = {"speaker_id": {1: True, 2: False}}

    def test_a_live_or_absent_reference_passes(self) -> None:
        rules.require_known(self.LIVE, "speaker_id", 1)
        rules.require_known(self.LIVE, "speaker_id", None)

    @pytest.mark.parametrize(("entity_id", "state"), [(2, "was deleted"), (3, "does not exist")])
    def test_a_deleted_or_unknown_reference_is_missing(self, entity_id: int, state: str) -> None:
        with pytest.raises(errors.RuleViolation) as exc:
            rules.require_known(self.LIVE, "speaker_id", entity_id)
        assert rule_of(exc) == "reference_missing"
        assert exc.value.detail == f"speaker_id {entity_id} {state}."
