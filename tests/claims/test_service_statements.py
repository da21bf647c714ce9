"""What a claim's writes send to the database: the statements of an update and of a create are
pinned (a regression fails here, not only in the benchmark), and the snapshots built from what
the transaction already holds are the ones a fresh read gives."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from app.claims import parts as claims_parts
from app.claims import service as claims_service
from app.claims.models import AppearanceCreate, ClaimCreate, ClaimTopic, ClaimUpdate
from app.core import errors
from app.core.db import Database
from app.history import service as history_service
from app.history.models import EntityType
from app.speakers import service as speakers_service
from app.speakers.models import SpeakerAlias, SpeakerUpdate
from app.tracked.versions import NO_PRECONDITION
from tests import factories
from tests.factories import ACTOR

# Not the write's own: the test's savepoints, and the ledger's feed lock on PostgreSQL (the
# ledger's business, counted by its own tests).
NOT_THE_WRITES = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "SELECT pg_advisory")


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The statements sent inside the block, each as its first words (verb and table)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        text = " ".join(statement.split())
        if not text.startswith(NOT_THE_WRITES):
            seen.append(text)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def shapes(seen: list[str]) -> list[str]:
    """``SELECT claim``, ``UPDATE claim``, ``INSERT INTO revision``...: what each statement
    does to which table, without its columns."""
    found = []
    for text in seen:
        verb = text.split()[0]
        if verb == "SELECT":
            found.append(f"SELECT {_outer_from(text)}")
        elif verb in ("INSERT", "DELETE"):
            found.append(f"{verb} {text.split()[2]}")
        else:
            found.append(f"{verb} {text.split()[1]}")
    return found


def _outer_from(text: str) -> str:
    """The table a SELECT reads from, outside its subqueries ("-" when none)."""
    depth = 0
    for at, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and text.startswith(" FROM ", at):
            return text[at + len(" FROM ") :].split()[0]
    return "-"


def topics_of(session: Session, claim_id: int) -> list[str]:
    table = ClaimTopic.__table__  # type: ignore[attr-defined]
    rows = session.connection().execute(
        sa.select(table.c.topic).where(table.c.claim_id == claim_id).order_by(table.c.topic)
    )
    return list(rows.scalars())


def latest_snapshot(session: Session, claim_id: int) -> dict[str, Any]:
    revisions = history_service.list_revisions(session.connection(), EntityType.claim, claim_id)
    return revisions[-1].snapshot


class TestUpdateStatements:
    def test_an_update_is_one_read_one_update_one_revision(
        self, session: Session, db: Database
    ) -> None:
        claim = factories.claim(session)
        factories.evidence(session, claim.id)
        with statements(db) as seen:
            claims_service.update_claim(
                session,
                claim.id,
                ClaimUpdate(statement="Reworded.", context="A new context."),
                expect=NO_PRECONDITION,
                actor=ACTOR,
            )
        # The claim, its evidence, appearances and links in one SELECT (FOR NO KEY UPDATE on
        # PostgreSQL); the fields, version and head hash in one UPDATE; the revision; the
        # new statement's normalised text for the similar-claims search (app/matching), that
        # text alone.
        assert shapes(seen) == [
            "SELECT claim",
            "UPDATE claim",
            "INSERT revision",
            "UPDATE claim_text",
        ]
        assert "claim_match" in seen[0]
        assert "evidence" in seen[0]
        assert "appearance" in seen[0]
        if db.engine.dialect.name == "postgresql":
            assert seen[0].endswith("FOR NO KEY UPDATE OF claim")

    def test_a_change_of_topics_touches_only_the_topics_that_changed(
        self, session: Session, db: Database
    ) -> None:
        claim = factories.claim(session, topics=["bakhmut", "wagner"])
        with statements(db) as seen:
            claims_service.update_claim(
                session,
                claim.id,
                ClaimUpdate(topics=["wagner", "frontline"]),
                expect=NO_PRECONDITION,
                actor=ACTOR,
            )
        assert shapes(seen) == [
            "SELECT claim",
            "UPDATE claim",
            "INSERT revision",
            "DELETE claim_topic",
            "INSERT claim_topic",
        ]
        assert topics_of(session, claim.id) == ["frontline", "wagner"]

    def test_a_speaker_named_is_checked_with_one_statement_before_the_load(
        self, session: Session, db: Database
    ) -> None:
        claim = factories.claim(session)
        speaker = factories.speaker(session)
        with statements(db) as seen:
            claims_service.update_claim(
                session,
                claim.id,
                ClaimUpdate(speaker_id=speaker.id),
                expect=NO_PRECONDITION,
                actor=ACTOR,
            )
        assert shapes(seen) == ["SELECT -", "SELECT claim", "UPDATE claim", "INSERT revision"]


class TestCreateStatements:
    def test_a_create_checks_references_and_reserves_its_id_in_one_statement(
        self, session: Session, db: Database
    ) -> None:
        speaker = factories.speaker(session)
        outlet = factories.outlet(session)
        body = ClaimCreate(
            statement="Counted.", speaker_id=speaker.id, outlet_id=outlet.id, topics=["a", "b"]
        )
        with statements(db) as seen:
            claim = claims_service.create_claim(session, body, actor=ACTOR)
        # No UPDATE of the head hash after the INSERT, no DELETE of topics a new claim lacks;
        # the statement's normalised text for the similar-claims search (app/matching).
        assert shapes(seen) == [
            "SELECT -",
            "INSERT revision",
            "INSERT claim",
            "INSERT claim_topic",
            "INSERT claim_text",
        ]
        assert topics_of(session, claim.id) == ["a", "b"]

    def test_a_create_without_references_or_topics_reserves_its_id(
        self, session: Session, db: Database
    ) -> None:
        with statements(db) as seen:
            claims_service.create_claim(session, ClaimCreate(statement="Bare."), actor=ACTOR)
        assert shapes(seen) == ["SELECT -", "INSERT revision", "INSERT claim", "INSERT claim_text"]

    def test_the_reserved_id_is_the_one_stored_and_hashed(self, session: Session) -> None:
        first = claims_service.create_claim(session, ClaimCreate(statement="One."), actor=ACTOR)
        second = claims_service.create_claim(session, ClaimCreate(statement="Two."), actor=ACTOR)
        assert second.id is not None
        assert first.id is not None
        assert second.id > first.id
        for claim in (first, second):
            (revision,) = history_service.list_revisions(
                session.connection(), EntityType.claim, claim.id
            )
            assert (revision.version, revision.hash) == (1, claim.head_hash)
            assert claim.version == 1
            assert claim.created_at == revision.recorded_at

    def test_a_deleted_speaker_is_refused_as_deleted(self, session: Session) -> None:
        speaker = factories.speaker(session)
        speakers_service.SPEAKERS.delete(
            session, speaker.id, expect=NO_PRECONDITION, actor=ACTOR, reason="Duplicate"
        )
        with pytest.raises(errors.RuleViolation, match="was deleted") as exc:
            claims_service.create_claim(
                session, ClaimCreate(statement="x", speaker_id=speaker.id), actor=ACTOR
            )
        assert exc.value.errors[0]["loc"] == ["body", "speaker_id"]

    def test_an_unknown_outlet_is_refused_after_a_live_speaker(self, session: Session) -> None:
        speaker = factories.speaker(session)
        with pytest.raises(errors.RuleViolation, match="outlet_id 999999 does not exist"):
            claims_service.create_claim(
                session,
                ClaimCreate(statement="x", speaker_id=speaker.id, outlet_id=999_999),
                actor=ACTOR,
            )


class TestSnapshotsFromTheTransaction:
    def test_an_updates_snapshot_is_what_a_fresh_read_gives(self, session: Session) -> None:
        claim = factories.claim(session)
        source = factories.source(session)
        factories.evidence(session, claim.id, title="Second look", source_id=source.id)
        factories.evidence(session, claim.id, title="Archived copy", note="On file", url=None)
        claims_parts.add_appearance(
            session,
            claim.id,
            AppearanceCreate(source_id=source.id, role="origin", quote="«Всё»"),
            expect=NO_PRECONDITION,
            actor=ACTOR,
        )
        claims_service.update_claim(
            session, claim.id, ClaimUpdate(place="Soledar"), expect=NO_PRECONDITION, actor=ACTOR
        )
        recorded = latest_snapshot(session, claim.id)
        assert recorded == claims_service.CLAIMS.snapshot(session, claim)
        titles = [item["title"] for item in recorded["evidence"]]
        assert titles == ["Second look", "Archived copy"]
        assert len(recorded["appearances"]) == 1
        assert recorded["appearances"][0]["quote"] == "«Всё»"

    def test_a_part_change_records_the_parts_as_stored(self, session: Session) -> None:
        claim = factories.claim(session)
        evidence = factories.evidence(session, claim.id)
        recorded = latest_snapshot(session, claim.id)
        assert [item["id"] for item in recorded["evidence"]] == [evidence.id]
        assert recorded == claims_service.CLAIMS.snapshot(session, claim)


class TestSpeakerAliases:
    def test_an_edit_that_keeps_name_and_aliases_leaves_the_index_alone(
        self, session: Session, db: Database
    ) -> None:
        speaker = factories.speaker(session)
        with statements(db) as seen:
            speakers_service.SPEAKERS.update(
                session,
                speaker.id,
                SpeakerUpdate(role="Former founder"),
                expect=NO_PRECONDITION,
                actor=ACTOR,
            )
        assert "speaker_alias" not in " ".join(shapes(seen))

    def test_a_new_name_rewrites_the_index(self, session: Session) -> None:
        speaker = factories.speaker(session, aliases=["Old alias"])
        speakers_service.SPEAKERS.update(
            session, speaker.id, SpeakerUpdate(name="New Name"), expect=NO_PRECONDITION, actor=ACTOR
        )
        table = SpeakerAlias.__table__  # type: ignore[attr-defined]
        rows = session.connection().execute(
            sa.select(table.c.alias).where(table.c.speaker_id == speaker.id)
        )
        assert sorted(rows.scalars()) == ["New Name", "Old alias"]
