"""A settled verdict cannot drift: an edit of what it rests on reopens the review, and the
ClaimReview export rates the claim as it stood when the verdict was settled (docs/history.md,
"Verdict integrity"). Service level, both backends; the HTTP contract is in test_router.py."""

from typing import Any

import orjson
import pytest
from sqlmodel import Session, col, select

from app.auth.actor import Actor, Role
from app.claims import parts as claims_parts
from app.claims import service as claims_service
from app.claims import settlement
from app.claims.models import (
    AppearanceCreate,
    Claim,
    ClaimUpdate,
    EvidenceCreate,
    EvidenceUpdate,
    StatusChange,
)
from app.core import errors
from app.core.db import Database
from app.exports import service as exports_service
from app.history import service as history_service
from app.history.models import EntityType, Revision
from app.imports import service as imports_service
from app.speakers import service as speakers_service
from app.speakers.models import SpeakerUpdate
from app.tracked.service import TrackedService
from app.tracked.versions import NO_PRECONDITION
from tests import factories

CHECKER = Actor(name="night checker", role=Role.checker, request_id="checker-request")
EDITOR = factories.ACTOR
ORIGINAL = "Everything east of the Bakhmutka river is under Wagner's control."
ORGANIZATION = {"name": "Desk", "url": "https://desk.example/"}


def settled_false(session: Session) -> tuple[Claim, Any]:
    """The case of the report: an editor settled the claim as false on refuting evidence."""
    claim = factories.claim(session, statement=ORIGINAL)
    evidence = factories.evidence(session, claim.id, stance="refutes", title="Drone footage")
    factories.rate(session, claim.id, "false", "Ukrainian units held the east bank.")
    return claim, evidence


def edit(session: Session, claim_id: int, actor: Actor = CHECKER, **values: Any) -> Claim:
    reason = values.pop("reason", None)
    return claims_service.update_claim(
        session,
        claim_id,
        ClaimUpdate(**values),
        expect=NO_PRECONDITION,
        actor=actor,
        reason=reason,
    )


def flip_stance(
    session: Session, claim_id: int, evidence_id: int, reason: str | None = None
) -> Claim:
    return claims_parts.update_evidence(
        session,
        claim_id,
        evidence_id,
        EvidenceUpdate(stance="supports"),
        expect=NO_PRECONDITION,
        actor=CHECKER,
        reason=reason,
    )[0]


def last_revision(session: Session, claim_id: int) -> Revision:
    statement = (
        select(Revision)
        .where(Revision.entity_type == EntityType.claim, Revision.entity_id == claim_id)
        .order_by(col(Revision.version).desc())
    )
    revision = session.exec(statement).first()
    assert revision is not None
    return revision


def claim_review(db: Database, claim_id: int) -> dict[str, Any]:
    with db.read_connection(snapshot=True) as conn:
        body = exports_service.claim_review_for(
            conn, claim_id, organization=ORGANIZATION, base_url="https://api.desk.example"
        )
    review: dict[str, Any] = orjson.loads(body)
    return review


class TestTheReportedAttack:
    def test_a_checker_rewriting_a_false_claim_reopens_it_and_keeps_the_verdict(
        self, session: Session
    ) -> None:
        claim, _ = settled_false(session)
        edited = edit(session, claim.id, statement="Wagner holds the whole city.")
        assert edited.review == "in_review"
        assert edited.status == "false"
        assert edited.verdict == "Ukrainian units held the east bank."
        revision = last_revision(session, claim.id)
        assert revision.reason == "reopened: statement changed under a settled verdict"
        assert revision.changes["review"] == {"from": "settled", "to": "in_review"}
        assert revision.actor_role == "checker"

    def test_then_flipping_the_evidence_stance_leaves_it_in_review(self, session: Session) -> None:
        claim, evidence = settled_false(session)
        edit(session, claim.id, statement="Wagner holds the whole city.")
        flipped = flip_stance(session, claim.id, evidence.id, reason="Footage re-dated")
        assert (flipped.review, flipped.status) == ("in_review", "false")
        # Already reopened: the second edit records only its own reason.
        assert last_revision(session, claim.id).reason == "Footage re-dated"

    def test_the_claimreview_still_rates_the_statement_the_editor_settled(
        self, session: Session, db: Database
    ) -> None:
        claim, evidence = settled_false(session)
        edit(session, claim.id, statement="Wagner holds the whole city.")
        flip_stance(session, claim.id, evidence.id)
        review = claim_review(db, claim.id)
        assert review["claimReviewed"] == ORIGINAL
        assert review["reviewRating"]["alternateName"] == "False"
        assert review["reviewBody"] == "Ukrainian units held the east bank."

    def test_once_an_editor_settles_again_the_claimreview_rates_the_new_statement(
        self, session: Session, db: Database
    ) -> None:
        claim, _ = settled_false(session)
        edit(session, claim.id, statement="Wagner holds the whole city.")
        claims_service.set_status(
            session,
            claim.id,
            StatusChange(review="settled", reason="Still false as worded now"),
            expect=NO_PRECONDITION,
            actor=EDITOR,
        )
        assert claim_review(db, claim.id)["claimReviewed"] == "Wagner holds the whole city."


class TestWhatReopens:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("statement", "Wagner holds the whole city."),
            ("original_quote", "Heel Bachmoet is van Wagner."),
            ("speaker_id", None),  # a new speaker, made in the test
        ],
    )
    def test_a_change_of_what_the_verdict_rests_on(
        self, session: Session, field: str, value: Any
    ) -> None:
        claim, _ = settled_false(session)
        if field == "speaker_id":
            value = factories.speaker(session, name="Someone else").id
        edited = edit(session, claim.id, **{field: value})
        assert edited.review == "in_review"
        assert field in str(last_revision(session, claim.id).reason)

    def test_removing_the_speaker(self, session: Session) -> None:
        speaker = factories.speaker(session)
        claim = factories.claim(session, speaker_id=speaker.id)
        factories.evidence(session, claim.id, stance="refutes")
        factories.rate(session, claim.id, "false")
        assert edit(session, claim.id, speaker_id=None).review == "in_review"

    def test_an_editors_edit_too(self, session: Session) -> None:
        claim, _ = settled_false(session)
        assert edit(session, claim.id, EDITOR, statement="Reworded.").review == "in_review"

    def test_the_callers_reason_comes_first(self, session: Session) -> None:
        claim, _ = settled_false(session)
        edit(session, claim.id, statement="Reworded.", reason="Typo in the quote")
        assert last_revision(session, claim.id).reason == (
            "Typo in the quote; reopened: statement changed under a settled verdict"
        )

    def test_a_longest_reason_still_fits_the_revision(self, session: Session) -> None:
        claim, _ = settled_false(session)
        edit(session, claim.id, statement="Reworded.", reason="x" * 2000)
        reason = str(last_revision(session, claim.id).reason)
        assert len(reason) == 2000
        assert reason.endswith("reopened: statement changed under a settled verdict")

    def test_adding_evidence(self, session: Session) -> None:
        claim, _ = settled_false(session)
        updated, _ = claims_parts.add_evidence(
            session,
            claim.id,
            EvidenceCreate(title="A tweet", stance="supports", note="archived"),
            expect=NO_PRECONDITION,
            actor=CHECKER,
        )
        assert updated.review == "in_review"
        assert last_revision(session, claim.id).reason == (
            "reopened: evidence changed under a settled verdict"
        )

    def test_changing_evidence(self, session: Session) -> None:
        claim, evidence = settled_false(session)
        assert flip_stance(session, claim.id, evidence.id).review == "in_review"

    def test_removing_evidence(self, session: Session) -> None:
        claim, evidence = settled_false(session)
        factories.evidence(session, claim.id, stance="refutes", title="Second source")
        factories.rate(session, claim.id, "false", "Settled again on two sources.")
        removed = claims_parts.remove_evidence(
            session, claim.id, evidence.id, expect=NO_PRECONDITION, actor=EDITOR, reason="Dup"
        )
        assert removed.review == "in_review"
        assert last_revision(session, claim.id).reason == (
            "Dup; reopened: evidence changed under a settled verdict"
        )

    def test_a_revert_to_another_statement(self, session: Session) -> None:
        claim = factories.claim(session, statement="First wording.")
        factories.evidence(session, claim.id, stance="refutes")
        factories.rate(session, claim.id, "false")  # version 3: settled on the first wording
        edit(session, claim.id, statement=ORIGINAL)
        resettled = claims_service.set_status(
            session,
            claim.id,
            StatusChange(review="settled", reason="Still false"),
            expect=NO_PRECONDITION,
            actor=EDITOR,
        )
        assert (resettled.review, resettled.statement) == ("settled", ORIGINAL)
        reverted = claims_service.CLAIMS.revert(
            session, claim.id, 3, expect=NO_PRECONDITION, actor=EDITOR, reason="Back to v3"
        )
        assert (reverted.statement, reverted.review) == ("First wording.", "in_review")
        assert last_revision(session, claim.id).reason == (
            "Back to v3; reopened: statement changed under a settled verdict"
        )


class TestWhatDoesNotReopen:
    @pytest.mark.parametrize(
        "values",
        [{"place": "Soledar"}, {"context": "a video"}, {"topics": ["soledar"]}, {"language": "nl"}],
    )
    def test_fields_the_verdict_does_not_rest_on(
        self, session: Session, values: dict[str, Any]
    ) -> None:
        claim, _ = settled_false(session)
        edited = edit(session, claim.id, reason="Tidy", **values)
        assert edited.review == "settled"
        assert last_revision(session, claim.id).reason == "Tidy"

    def test_a_new_appearance(self, session: Session) -> None:
        claim, _ = settled_false(session)
        source = factories.source(session, url="https://t.me/repost/1")
        updated, _ = claims_parts.add_appearance(
            session,
            claim.id,
            AppearanceCreate(source_id=source.id, role="repost"),
            expect=NO_PRECONDITION,
            actor=CHECKER,
        )
        assert updated.review == "settled"

    def test_an_edit_of_an_unverified_claim(self, session: Session) -> None:
        claim = factories.claim(session)
        assert edit(session, claim.id, statement="Reworded.").review == "open"

    def test_an_edit_of_a_claim_already_in_review(self, session: Session) -> None:
        claim, _ = settled_false(session)
        claims_service.set_status(
            session,
            claim.id,
            StatusChange(review="in_review", reason="Second look"),
            expect=NO_PRECONDITION,
            actor=EDITOR,
        )
        edit(session, claim.id, statement="Reworded.", reason="Clearer")
        assert last_revision(session, claim.id).reason == "Clearer"

    def test_an_edit_that_changes_nothing_records_nothing(self, session: Session) -> None:
        claim, _ = settled_false(session)
        version = claim.version
        edited = edit(session, claim.id, statement=ORIGINAL)
        assert (edited.review, edited.version) == ("settled", version)


class TestImportUpdates:
    def test_an_import_update_of_a_settled_claim_reopens_it(
        self, session: Session, db: Database
    ) -> None:
        claim = factories.claim(session, statement=ORIGINAL, external_id="desk:1")
        factories.evidence(session, claim.id, stance="refutes")
        factories.rate(session, claim.id, "false", "Ukrainian units held the east bank.")
        record = {
            "external_id": "desk:1",
            "statement": "Wagner holds the whole city.",
            "status": "false",
            "verdict": "Ukrainian units held the east bank.",
            "evidence": [{"title": "A supporting post", "stance": "supports", "note": "archived"}],
        }
        summary = imports_service.import_batch(
            session, session.connection(), [record], actor=CHECKER, batch_id="b1"
        )
        assert (summary.updated, summary.failed) == (1, 0), summary.errors
        updated = session.get(Claim, claim.id)
        assert updated is not None
        assert (updated.review, updated.status) == ("in_review", "false")
        revisions = history_service.list_revisions(session.connection(), EntityType.claim, claim.id)
        reasons = [revision.reason for revision in revisions]
        assert "import b1; reopened: statement changed under a settled verdict" in reasons
        assert claim_review(db, claim.id)["claimReviewed"] == ORIGINAL


class TestSettledSnapshot:
    def test_a_statement_that_drifted_before_the_rule_is_not_the_one_rated(
        self, session: Session, db: Database
    ) -> None:
        claim, _ = settled_false(session)
        # A write as it was before the rule (the kit's change, without the claim's reopening):
        # the statement changed, the claim stayed settled.
        loaded = session.get(Claim, claim.id)
        TrackedService._change(
            claims_service.CLAIMS,
            session,
            loaded,
            {"statement": "Drifted."},
            actor=CHECKER,
            reason=None,
        )
        session.commit()
        assert loaded.review == "settled"
        assert claim_review(db, claim.id)["claimReviewed"] == ORIGINAL

    def test_a_verdict_rewritten_in_review_is_not_published_until_settled(
        self, session: Session, db: Database
    ) -> None:
        claim, _ = settled_false(session)
        edit(session, claim.id, statement="Reworded.")
        claims_service.set_status(
            session,
            claim.id,
            StatusChange(verdict="A draft rationale.", reason="Drafting"),
            expect=NO_PRECONDITION,
            actor=EDITOR,
        )
        assert claim_review(db, claim.id)["reviewBody"] == "Ukrainian units held the east bank."

    def test_the_settled_speaker_is_the_author(self, session: Session, db: Database) -> None:
        first = factories.speaker(session, name="First Speaker")
        claim = factories.claim(session, speaker_id=first.id)
        factories.evidence(session, claim.id, stance="refutes")
        factories.rate(session, claim.id, "false")
        edit(session, claim.id, speaker_id=factories.speaker(session, name="Second").id)
        review = claim_review(db, claim.id)
        assert review["itemReviewed"]["author"]["name"] == "First Speaker"

    def test_a_speaker_renamed_after_settlement_is_still_the_author_it_was(
        self, session: Session, db: Database
    ) -> None:
        # The reported gap: a checker may edit speakers, and the author used to be read as is.
        kremlin = factories.speaker(session, name="Kremlin", kind="government")
        claim = factories.claim(session, speaker_id=kremlin.id)
        factories.evidence(session, claim.id, stance="refutes")
        factories.rate(session, claim.id, "false")
        speakers_service.SPEAKERS.update(
            session,
            kremlin.id,
            SpeakerUpdate(name="Ukraine's General Staff", kind="military"),
            expect=NO_PRECONDITION,
            actor=CHECKER,
        )
        author = claim_review(db, claim.id)["itemReviewed"]["author"]
        assert (author["@type"], author["name"]) == ("Organization", "Kremlin")
        factories.rate(session, claim.id, "false", verdict="Checked again.")
        assert claim_review(db, claim.id)["itemReviewed"]["author"]["name"] == (
            "Ukraine's General Staff"
        )

    def test_the_settled_claimed_at_is_the_date_rated(self, session: Session, db: Database) -> None:
        claim, _ = settled_false(session)
        before = claim_review(db, claim.id)["itemReviewed"].get("datePublished")
        edit(session, claim.id, claimed_at="2001-01-01T00:00:00Z")
        assert claim_review(db, claim.id)["itemReviewed"].get("datePublished") == before

    def test_an_unverified_claim_has_none(self, session: Session) -> None:
        claim = factories.claim(session)
        assert settlement.settled_snapshots(session.connection(), [claim.id]) == {}

    def test_a_claim_moved_back_to_unverified_has_no_claimreview(
        self, session: Session, db: Database
    ) -> None:
        claim, _ = settled_false(session)
        claims_service.set_status(
            session,
            claim.id,
            StatusChange(status="unverified", reason="Start over"),
            expect=NO_PRECONDITION,
            actor=EDITOR,
        )
        with pytest.raises(errors.NotFound, match="unverified"):
            claim_review(db, claim.id)
