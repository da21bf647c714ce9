"""The tracked-entity kit's small parts, without HTTP: versions, 404/410, the guard."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from app.core import errors
from app.core.db import Database
from app.speakers.models import Speaker
from app.tracked.guard import BulkWriteRefused, refuse_bulk_writes
from app.tracked.lookup import require_present
from app.tracked.versions import NO_PRECONDITION, Expected


class TestExpected:
    def test_no_precondition_accepts_any_version(self) -> None:
        NO_PRECONDITION.check(7)

    def test_the_current_version_passes(self) -> None:
        Expected(7, required=True).check(7)

    def test_another_version_is_a_mismatch_naming_both(self) -> None:
        with pytest.raises(errors.VersionMismatch) as caught:
            Expected(6).check(7)
        assert (caught.value.current_version, caught.value.expected_version) == (7, 6)
        assert caught.value.status == 412
        assert isinstance(caught.value, errors.PreconditionFailed)

    def test_a_missing_version_where_one_is_required_names_the_current_one(self) -> None:
        with pytest.raises(errors.VersionRequired) as caught:
            Expected(None, required=True).check(3)
        assert caught.value.current_version == 3
        assert caught.value.status == 428


class TestRequirePresent:
    def test_nothing_found_is_404(self) -> None:
        with pytest.raises(errors.NotFound, match=r"^No speaker with id 3\.$"):
            require_present(None, "speaker", 3, deleted_at=None)

    def test_a_live_entity_is_returned(self) -> None:
        assert require_present("row", "speaker", 3, deleted_at=None) == "row"

    def test_a_deleted_one_is_410_with_its_deletion_time(self) -> None:
        when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        with pytest.raises(errors.Gone) as caught:
            require_present("row", "claim", 3, deleted_at=when)
        assert caught.value.detail == "claim 3 was deleted; its history is still readable."
        assert caught.value.extra == {"deleted_at": "2024-05-01T12:00:00+00:00"}

    def test_a_deletion_time_read_as_text_is_kept_as_written(self) -> None:
        with pytest.raises(errors.Gone) as caught:
            require_present("row", "claim", 3, deleted_at="2024-05-01T12:00:00Z")
        assert caught.value.extra == {"deleted_at": "2024-05-01T12:00:00Z"}

    def test_a_writer_is_told_to_restore_it(self) -> None:
        with pytest.raises(errors.Gone, match="restore it to change it"):
            require_present("row", "claim", 3, deleted_at="then", writing=True)

    def test_deleted_ones_are_returned_when_allowed(self) -> None:
        assert require_present("row", "claim", 3, deleted_at="then", allow_deleted=True) == "row"


class TestGuardInstallation:
    def test_sessions_of_a_database_refuse_bulk_writes(self, db: Database) -> None:
        with db.session() as session, pytest.raises(BulkWriteRefused):
            session.exec(sa.update(Speaker).where(sa.false()).values(name="x"))

    def test_sessions_inside_a_connection_of_the_database_refuse_them_too(
        self, db: Database
    ) -> None:
        assert db.bind is not None
        with db.session_on(db.bind) as session, pytest.raises(BulkWriteRefused):
            session.exec(sa.delete(Speaker).where(sa.false()))

    def test_the_global_session_class_carries_no_guard(self, db: Database) -> None:
        assert not event.contains(Session, "do_orm_execute", refuse_bulk_writes)
        with Session(bind=db.bind, join_transaction_mode="create_savepoint") as session:
            result = session.exec(sa.update(Speaker).where(sa.false()).values(name="x"))
            assert result.rowcount == 0  # it ran: nothing refused it
