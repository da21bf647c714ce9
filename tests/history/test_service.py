"""The change history, through the services: every write path, no-ops, chains, tampering."""

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from app.claims import parts as claims_parts
from app.claims import service as claims_service
from app.claims.models import AppearanceCreate, ClaimUpdate, EvidenceUpdate
from app.history import service as history_service
from app.history.models import EntityType, Revision
from app.history.verify import verify_history
from app.speakers import service as speakers_service
from app.speakers.models import Speaker, SpeakerUpdate
from app.tables import TRACKED_TABLES
from app.tracked.guard import BulkWriteRefused
from app.tracked.versions import NO_PRECONDITION
from tests import factories
from tests.factories import ACTOR


def revisions_of(session: Session, entity_type: EntityType, entity_id: int) -> list[Revision]:
    statement = (
        select(Revision)
        .where(Revision.entity_type == entity_type, Revision.entity_id == entity_id)
        .order_by(col(Revision.version))
    )
    return list(session.exec(statement))


def last_changes(session: Session, entity_type: EntityType, entity_id: int) -> dict[str, Any]:
    return revisions_of(session, entity_type, entity_id)[-1].changes


class TestEveryWriteRecordsOneRevision:
    def test_create_records_version_1_with_snapshot_and_actor(self, session: Session) -> None:
        claim = factories.claim(session)
        [revision] = revisions_of(session, EntityType.claim, claim.id)
        assert revision.version == 1
        assert revision.action == "created"
        assert revision.snapshot["statement"] == claim.statement
        assert revision.actor_name == "tester"
        assert revision.actor_role == "editor"
        assert revision.request_id == "test-request"
        assert revision.prev_hash is None
        assert claim.head_hash == revision.hash

    def test_update_records_only_the_changed_fields(self, session: Session) -> None:
        claim = factories.claim(session)
        claims_service.update_claim(
            session,
            claim.id,
            ClaimUpdate(place="Soledar, Ukraine"),
            expect=NO_PRECONDITION,
            actor=ACTOR,
            reason="Article names Soledar",
        )
        revisions = revisions_of(session, EntityType.claim, claim.id)
        assert [r.version for r in revisions] == [1, 2]
        assert revisions[1].changes == {
            "place": {"from": "Bakhmut, Ukraine", "to": "Soledar, Ukraine"}
        }
        assert revisions[1].reason == "Article names Soledar"
        assert revisions[1].prev_hash == revisions[0].hash

    def test_adding_evidence_is_one_claim_revision(self, session: Session) -> None:
        claim = factories.claim(session)
        evidence = factories.evidence(session, claim.id)
        revisions = revisions_of(session, EntityType.claim, claim.id)
        assert len(revisions) == 2
        change = revisions[1].changes["evidence"]
        assert change["from"] == []
        assert change["to"][0]["id"] == evidence.id
        assert claim.version == 2

    def test_changing_and_removing_evidence_are_claim_revisions(self, session: Session) -> None:
        claim = factories.claim(session)
        evidence = factories.evidence(session, claim.id)
        claims_parts.update_evidence(
            session,
            claim.id,
            evidence.id,
            EvidenceUpdate(stance="refutes"),
            expect=NO_PRECONDITION,
            actor=ACTOR,
        )
        claims_parts.remove_evidence(
            session,
            claim.id,
            evidence.id,
            expect=NO_PRECONDITION,
            actor=ACTOR,
            reason="Wrong link",
        )
        revisions = revisions_of(session, EntityType.claim, claim.id)
        assert [r.version for r in revisions] == [1, 2, 3, 4]
        assert revisions[2].changes["evidence"]["to"][0]["stance"] == "refutes"
        assert revisions[3].changes["evidence"]["to"] == []

    def test_appearance_is_a_claim_revision(self, session: Session) -> None:
        claim = factories.claim(session)
        source = factories.source(session)
        claims_parts.add_appearance(
            session,
            claim.id,
            AppearanceCreate(source_id=source.id, role="origin"),
            expect=NO_PRECONDITION,
            actor=ACTOR,
        )
        changes = last_changes(session, EntityType.claim, claim.id)
        assert changes["appearances"]["to"][0]["source_id"] == source.id

    def test_status_change_records_status_verdict_and_review(self, session: Session) -> None:
        claim = factories.claim(session)
        factories.evidence(session, claim.id)
        factories.rate(session, claim.id, "mostly_true", "Confirmed by two sources.")
        changes = last_changes(session, EntityType.claim, claim.id)
        assert changes["status"] == {"from": "unverified", "to": "mostly_true"}
        assert changes["verdict"]["to"] == "Confirmed by two sources."
        assert changes["review"] == {"from": "open", "to": "settled"}

    def test_delete_restore_and_revert_are_revisions(self, session: Session) -> None:
        claim = factories.claim(session)
        claims_service.update_claim(
            session,
            claim.id,
            ClaimUpdate(context="an interview on CNN"),
            expect=NO_PRECONDITION,
            actor=ACTOR,
        )
        claims_service.CLAIMS.delete(
            session, claim.id, expect=NO_PRECONDITION, actor=ACTOR, reason="Duplicate"
        )
        claims_service.CLAIMS.restore(
            session, claim.id, expect=NO_PRECONDITION, actor=ACTOR, reason="Not a duplicate"
        )
        claims_service.CLAIMS.revert(
            session, claim.id, 1, expect=NO_PRECONDITION, actor=ACTOR, reason="Undo context"
        )
        revisions = revisions_of(session, EntityType.claim, claim.id)
        assert [r.action for r in revisions] == [
            "created",
            "updated",
            "deleted",
            "restored",
            "reverted",
        ]
        assert revisions[-1].reverted_to == 1
        assert revisions[-1].changes == {
            "context": {"from": "an interview on CNN", "to": "a Telegram post"}
        }

    def test_speaker_outlet_and_source_writes_are_recorded(self, session: Session) -> None:
        speaker = factories.speaker(session)
        outlet = factories.outlet(session)
        source = factories.source(session, outlet_id=outlet.id)
        speakers_service.SPEAKERS.update(
            session,
            speaker.id,
            SpeakerUpdate(aliases=["Prigozjin", "Prigojine"]),
            expect=NO_PRECONDITION,
            actor=ACTOR,
        )
        assert len(revisions_of(session, EntityType.speaker, speaker.id)) == 2
        assert len(revisions_of(session, EntityType.outlet, outlet.id)) == 1
        assert len(revisions_of(session, EntityType.source, source.id)) == 1
        assert last_changes(session, EntityType.speaker, speaker.id) == {
            "aliases": {"from": ["Prigozjin", "Пригожин"], "to": ["Prigozjin", "Prigojine"]}
        }


class TestNoOpWrites:
    def test_an_update_that_changes_nothing_records_nothing(self, session: Session) -> None:
        claim = factories.claim(session)
        same = claims_service.update_claim(
            session,
            claim.id,
            ClaimUpdate(place="Bakhmut, Ukraine"),
            expect=NO_PRECONDITION,
            actor=ACTOR,
        )
        assert same.version == 1
        assert len(revisions_of(session, EntityType.claim, claim.id)) == 1

    def test_restoring_a_live_entity_records_nothing(self, session: Session) -> None:
        speaker = factories.speaker(session)
        speakers_service.SPEAKERS.restore(
            session, speaker.id, expect=NO_PRECONDITION, actor=ACTOR, reason="Just in case"
        )
        assert len(revisions_of(session, EntityType.speaker, speaker.id)) == 1


class TestReads:
    def test_as_of_a_version_returns_that_snapshot(self, session: Session) -> None:
        claim = factories.claim(session)
        claims_service.update_claim(
            session,
            claim.id,
            ClaimUpdate(statement="Changed"),
            expect=NO_PRECONDITION,
            actor=ACTOR,
        )
        old = history_service.revision_as_of(
            session.connection(), EntityType.claim, claim.id, version=1
        )
        assert old.snapshot["statement"].startswith("Everything east")

    def test_diff_between_versions_lists_changed_fields(self, session: Session) -> None:
        claim = factories.claim(session)
        for place in ("Soledar", "Kramatorsk"):
            claims_service.update_claim(
                session,
                claim.id,
                ClaimUpdate(place=place),
                expect=NO_PRECONDITION,
                actor=ACTOR,
            )
        diff = history_service.diff_versions(session.connection(), EntityType.claim, claim.id, 1, 3)
        assert diff == {"place": {"from": "Bakhmut, Ukraine", "to": "Kramatorsk"}}


class TestAppendOnly:
    def test_raw_update_of_a_revision_is_refused_by_the_trigger(self, session: Session) -> None:
        factories.claim(session)
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.connection().execute(sa.text("UPDATE revision SET reason = 'forged'"))

    def test_raw_delete_of_a_revision_is_refused_by_the_trigger(self, session: Session) -> None:
        factories.claim(session)
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.connection().execute(sa.text("DELETE FROM revision"))

    def test_bulk_update_of_a_tracked_table_is_refused_in_code(self, session: Session) -> None:
        factories.speaker(session)
        with pytest.raises(BulkWriteRefused):
            session.exec(sa.update(Speaker).values(name="Someone else"))

    def test_bulk_delete_of_revisions_is_refused_in_code(self, session: Session) -> None:
        with pytest.raises(BulkWriteRefused):
            session.exec(sa.delete(Revision))


class TestVerifier:
    def test_an_untouched_history_verifies(self, session: Session) -> None:
        claim = factories.claim(session)
        factories.evidence(session, claim.id)
        report = verify_history(session.connection(), TRACKED_TABLES)
        assert report.ok
        assert report.revisions_checked >= 2

    def test_an_edited_snapshot_is_caught_with_entity_and_version(
        self, session: Session, backend: str
    ) -> None:
        claim = factories.claim(session)
        factories.evidence(session, claim.id)
        conn = session.connection()
        drop_append_only_triggers(conn, backend)  # undone by the test's rollback
        forged = '{"statement": "forged"}'
        conn.execute(
            sa.text(
                "UPDATE revision SET snapshot = :s WHERE entity_type = 'claim' "
                "AND entity_id = :id AND version = 2"
            ),
            {"s": forged, "id": claim.id},
        )
        report = verify_history(conn, TRACKED_TABLES)
        assert not report.ok
        assert report.first_broken is not None
        assert report.first_broken.entity_type == "claim"
        assert report.first_broken.entity_id == claim.id
        assert report.first_broken.version == 2

    def test_a_deleted_revision_is_caught_as_a_gap(self, session: Session, backend: str) -> None:
        claim = factories.claim(session)
        for place in ("Soledar", "Kramatorsk"):
            claims_service.update_claim(
                session,
                claim.id,
                ClaimUpdate(place=place),
                expect=NO_PRECONDITION,
                actor=ACTOR,
            )
        conn = session.connection()
        drop_append_only_triggers(conn, backend)
        conn.execute(
            sa.text(
                "DELETE FROM revision WHERE entity_type = 'claim' AND entity_id = :id "
                "AND version = 2"
            ),
            {"id": claim.id},
        )
        report = verify_history(conn, TRACKED_TABLES)
        assert report.first_broken is not None
        assert report.first_broken.version == 3
        assert "expected" in report.first_broken.problem


def drop_append_only_triggers(conn: sa.Connection, backend: str) -> None:
    if backend == "sqlite":
        conn.execute(sa.text("DROP TRIGGER revision_no_update"))
        conn.execute(sa.text("DROP TRIGGER revision_no_delete"))
    else:
        conn.execute(sa.text("DROP TRIGGER revision_append_only ON revision"))
