"""The change feed's watermark on PostgreSQL, step by step, with real overlapping transactions.

Revision ids are handed out at insert and become visible at commit, in another order; no lock
orders the writers any more. Each test opens writer transactions on connections of their own,
stops them at the exact moment that used to need the feed lock (a revision written, not yet
committed), and reads the feed from a third connection, as a poller would.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, Engine, text
from sqlmodel import Session

from app.claims import service as claims_service
from app.claims.models import ClaimUpdate
from app.core.db import Database, make_engine
from app.history import service as history_service
from app.history.models import EntityType, Revision
from app.schema.migrate import upgrade
from app.tracked.versions import NO_PRECONDITION
from tests import factories
from tests.conftest import PG_URL, create_pg_database, drop_pg_database

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set CLAIMS_TEST_PG_URL"),
]


@pytest.fixture
def engine() -> Iterator[Engine]:
    """A fresh, migrated database of its own: these tests commit for real."""
    url = create_pg_database(prefix="claims_watermark")
    try:
        upgrade(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()
    finally:
        drop_pg_database(url)


@contextmanager
def writer(engine: Engine) -> Iterator[tuple[Connection, Session]]:
    """A write transaction the test commits or rolls back itself: the services' commits inside
    it only release savepoints."""
    with engine.connect() as conn:
        conn.begin()
        with Database(engine, bind=conn).session(write=True) as session:
            yield conn, session


def start_writing(conn: Connection) -> None:
    """Give the transaction its id now, as an earlier write (a row lock, an import's first
    rows) would, before it draws any revision id."""
    conn.execute(text("SELECT pg_current_xact_id()"))


def create_claim(session: Session, statement: str) -> int:
    """A claim through the service; the id of its creation revision."""
    claim = factories.claim(session, statement=statement)
    return revision_of(session, claim.id)


def revision_of(session: Session, claim_id: int | None) -> int:
    [revision_id] = session.connection().execute(
        text("SELECT id FROM revision WHERE entity_type = 'claim' AND entity_id = :id"),
        {"id": claim_id},
    )
    return int(revision_id[0])


def committed_claim(engine: Engine, statement: str) -> int:
    with writer(engine) as (conn, session):
        revision_id = create_claim(session, statement)
        conn.commit()
    return revision_id


def feed(engine: Engine, after: int = 0) -> list[int]:
    """One poll from a connection of its own; the revision ids in the feed's order."""
    return [revision.id for revision in revisions(engine, after) if revision.id is not None]


def revisions(engine: Engine, after: int = 0) -> list[Revision]:
    with engine.connect() as conn:
        return history_service.changes_feed(conn, after=after, limit=1_000)


# The watermark is the whole server's: a write transaction in any database on it (other test
# runs share this one) holds the feed back until it ends. Polls that must show revisions wait
# for that, as a poller would; an empty poll never proves anything but "not yet".
SETTLE_SECONDS = 30.0


def settled_feed(engine: Engine, count: int, after: int = 0) -> list[int]:
    """Poll until the feed shows at least ``count`` revisions after ``after`` (bounded)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while len(page := feed(engine, after)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return page


class TestAnOpenWriterHoldsBackLaterCommits:
    def test_a_later_commit_waits_for_the_earlier_writer_then_both_arrive(
        self, engine: Engine
    ) -> None:
        seen = committed_claim(engine, "before everything")
        assert settled_feed(engine, 1) == [seen]
        with writer(engine) as (slow, slow_session):
            slow_revision = create_claim(slow_session, "the slow writer")
            fast_revision = committed_claim(engine, "the fast writer")
            assert slow_revision < fast_revision

            # Were the fast one shown now, a poller's cursor would pass the slow one's id.
            assert feed(engine, after=seen) == []
            slow.commit()

        assert settled_feed(engine, 2, after=seen) == [slow_revision, fast_revision]

    def test_a_writer_that_rolls_back_delays_the_feed_and_loses_nothing(
        self, engine: Engine
    ) -> None:
        with writer(engine) as (abandoned, abandoned_session):
            start_writing(abandoned)
            create_claim(abandoned_session, "never committed")
            committed = committed_claim(engine, "committed meanwhile")
            assert feed(engine) == []
            abandoned.rollback()

        assert settled_feed(engine, 1) == [committed]


class TestTheOrderIsTheWritersNotTheIds:
    def test_a_smaller_id_committed_later_is_not_passed_by_the_cursor(self, engine: Engine) -> None:
        """The trap of filtering in id order: T1 takes its transaction id first, T2 draws a
        revision id, T1 draws a greater one and commits, a poller moves its cursor to T1's id;
        then T2 commits its smaller id. The poller must still get it, exactly once. (Whether
        T1's revision shows before T2 commits depends on where it sorts; both are sound.)"""
        seen: list[int] = []
        with writer(engine) as (first, first_session), writer(engine) as (second, second_session):
            start_writing(first)
            start_writing(second)
            second_revision = create_claim(second_session, "drew its id first")
            first_revision = create_claim(first_session, "drew its id second")
            assert second_revision < first_revision
            first.commit()
            seen += feed(engine)
            assert seen in ([], [first_revision])
            second.commit()

        seen += settled_feed(engine, 2 - len(seen), after=seen[-1] if seen else 0)
        assert sorted(seen) == [second_revision, first_revision]
        assert feed(engine) == seen

    def test_an_entitys_versions_keep_their_order_when_the_later_write_began_first(
        self, engine: Engine
    ) -> None:
        """A transaction that took its id early (an import's first rows) and then edits a claim
        another transaction edited and committed meanwhile: its version comes after that one,
        in the feed as in the entity's history."""
        with writer(engine) as (conn, session):
            claim_id = factories.claim(session).id
            conn.commit()
        with writer(engine) as (early, early_session):
            start_writing(early)
            with writer(engine) as (late, late_session):
                edit(late_session, claim_id, "the late transaction, committed first")
                late.commit()
            edit(early_session, claim_id, "the early transaction, committed second")
            early.commit()

        settled_feed(engine, 3)
        page = revisions(engine)
        assert [(revision.entity_id, revision.version) for revision in page] == [
            (claim_id, 1),
            (claim_id, 2),
            (claim_id, 3),
        ]


class TestACommitIsShownAtOnce:
    def test_an_edit_is_below_the_watermark_as_soon_as_it_commits(self, engine: Engine) -> None:
        """An edit's transaction has its id before the revision is written (the row lock
        takes it). Once it commits with nothing else in flight, the watermark is the next
        transaction id to come: the revision must sort below it, or the feed (and everything
        that follows the feed) would hold the desk's last change back until someone writes
        again."""
        with writer(engine) as (conn, session):
            claim_id = factories.claim(session).id
            conn.commit()
        with writer(engine) as (conn, session):
            start_writing(conn)
            edit(session, claim_id, "the last change of the day")
            conn.commit()
        with engine.connect() as conn:
            [(feed_xid, next_xid)] = conn.execute(
                text(
                    "SELECT feed_xid, pg_snapshot_xmax(pg_current_snapshot())::text::bigint "
                    "FROM revision WHERE entity_id = :id AND version = 2"
                ),
                {"id": claim_id},
            )
        assert feed_xid < next_xid
        settled_feed(engine, 2)
        assert [revision.version for revision in revisions(engine)] == [1, 2]


def edit(session: Session, claim_id: int | None, context: str) -> None:
    assert claim_id is not None
    claims_service.update_claim(
        session,
        claim_id,
        ClaimUpdate(context=context),
        expect=NO_PRECONDITION,
        actor=factories.ACTOR,
    )


class TestTheCursor:
    def test_an_id_naming_no_revision_stands_for_the_greatest_revision_below_it(
        self, engine: Engine
    ) -> None:
        first = committed_claim(engine, "first")
        with writer(engine) as (conn, session):
            gap = create_claim(session, "rolled back: its id is never used")
            conn.rollback()
        last = committed_claim(engine, "last")
        assert first < gap < last

        assert settled_feed(engine, 2) == [first, last]
        assert feed(engine, after=gap) == feed(engine, after=first) == [last]
        assert feed(engine, after=last) == []
        assert feed(engine, after=last + 1_000) == []

    def test_the_reader_sees_its_own_transactions_revisions(self, engine: Engine) -> None:
        with writer(engine) as (conn, session):
            own = create_claim(session, "mine, not yet committed")
            page = history_service.changes_feed(conn, after=0)
            assert [revision.id for revision in page] == [own]
            assert page[0].entity_type is EntityType.claim
            conn.rollback()
