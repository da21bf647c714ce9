"""SQLite writers queue inside the process instead of racing in SQLite's busy handler.

Each test builds a fresh file database and sets ``PRAGMA busy_timeout=0`` on every connection
after the app's own settings: a second ``BEGIN IMMEDIATE`` that reached SQLite while another
writer held the lock would fail at once with "database is locked". Only the in-process queue
keeps concurrent writers apart.
"""

import asyncio
import contextvars
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.core.db import Database, make_engine
from app.core.settings import Settings
from app.core.sqlite_writer import WriterQueueTimeout

WRITERS = 16
WRITES_EACH = 10


def _engine(path: Path, *, turn_timeout_ms: int = 10_000) -> Engine:
    settings = Settings(database_url=f"sqlite:///{path}", sqlite_busy_timeout_ms=turn_timeout_ms)
    engine = make_engine(settings=settings)

    @event.listens_for(engine, "connect")
    def _no_busy_handler(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter VALUES (1, 0)"))
    return engine


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    engine = _engine(tmp_path / "writers.db")
    yield Database(engine)
    engine.dispose()


def _increment(database: Database) -> None:
    with database.session(write=True) as session:
        n = session.connection().execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one()
        session.connection().execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})
        session.commit()


def test_concurrent_writers_take_turns_and_lose_no_increment(database: Database) -> None:
    failures: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def writer() -> None:
        start.wait()
        for _ in range(WRITES_EACH):
            try:
                _increment(database)
            except BaseException as exc:  # collected and asserted below
                failures.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == WRITERS * WRITES_EACH


def test_a_rolled_back_or_failed_write_gives_the_turn_back(database: Database) -> None:
    with database.session(write=True) as session:
        session.connection().execute(text("UPDATE counter SET n = 5"))
        session.rollback()
    with pytest.raises(OperationalError), database.session(write=True) as session:
        session.connection().execute(text("UPDATE no_such_table SET n = 1"))
    # The next writer in another thread is not left waiting.
    done = threading.Event()
    thread = threading.Thread(target=lambda: (_increment(database), done.set()))
    thread.start()
    thread.join(timeout=5)
    assert done.is_set()


def test_a_writer_that_gets_no_turn_in_time_fails_as_a_busy_database(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "busy.db", turn_timeout_ms=200)
    database = Database(engine)
    holder = database.session(write=True)
    holder.connection()  # BEGIN IMMEDIATE: the turn is taken
    try:
        with pytest.raises(OperationalError) as raised, database.session(write=True) as session:
            session.connection()
        assert isinstance(raised.value.orig, WriterQueueTimeout)
        assert isinstance(raised.value.orig, sqlite3.OperationalError)
    finally:
        holder.rollback()
        holder.close()
    _increment(database)  # the turn is free again
    engine.dispose()


# --- group commit: Database.write ----------------------------------------------------------------


def _insert(value: int, *, fail: bool = False) -> Callable[[Session], int]:
    def work(session: Session) -> int:
        session.connection().execute(text("INSERT INTO item (n) VALUES (:n)"), {"n": value})
        if fail:
            raise ValueError(f"work {value} failed after writing")
        session.commit()
        return value

    return work


@pytest.fixture
def items(tmp_path: Path) -> Iterator[Database]:
    engine = _engine(tmp_path / "items.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
    database = Database(engine)
    yield database
    asyncio.run(database.close())


def _stored(database: Database) -> list[int]:
    with database.engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT n FROM item ORDER BY n"))]


def test_concurrent_writes_share_commits_and_each_is_stored(items: Database) -> None:
    commits = 0

    @event.listens_for(items.engine, "commit")
    def _count(_conn: Any) -> None:
        nonlocal commits
        commits += 1

    async def main() -> list[int]:
        return await asyncio.gather(*(items.write(_insert(n)) for n in range(200)))

    assert asyncio.run(main()) == list(range(200))
    assert _stored(items) == list(range(200))
    assert 1 <= commits < 200  # queued writes were committed together


def test_a_failing_write_is_undone_alone_and_its_caller_gets_its_error(items: Database) -> None:
    async def main() -> list[int | BaseException]:
        return await asyncio.gather(
            *(items.write(_insert(n, fail=n % 5 == 0)) for n in range(50)),
            return_exceptions=True,
        )

    answers = asyncio.run(main())
    failed = [n for n, answer in enumerate(answers) if isinstance(answer, ValueError)]
    assert failed == list(range(0, 50, 5))
    assert _stored(items) == [n for n in range(50) if n % 5]


def test_a_write_is_answered_only_once_it_is_committed(items: Database) -> None:
    async def main() -> None:
        for n in range(20):
            await items.write(_insert(n))
            # Another connection sees it the moment the caller has its answer.
            assert _stored(items)[-1] == n

    asyncio.run(main())


def test_other_writers_of_the_process_take_turns_with_the_groups(items: Database) -> None:
    def direct_writes() -> None:
        for n in range(1000, 1030):
            with items.session(write=True) as session:
                _insert(n)(session)

    async def main() -> None:
        thread = threading.Thread(target=direct_writes)
        thread.start()
        await asyncio.gather(*(items.write(_insert(n)) for n in range(100)))
        await asyncio.to_thread(thread.join, 60)

    asyncio.run(main())
    assert _stored(items) == [*range(100), *range(1000, 1030)]


def test_a_write_that_waited_past_the_timeout_fails_as_a_busy_database(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "slow.db", turn_timeout_ms=200)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
    database = Database(engine, settings=Settings(sqlite_busy_timeout_ms=200))

    def slow(session: Session) -> int:
        time.sleep(0.5)
        return _insert(0)(session)

    async def main() -> list[int | BaseException]:
        first = asyncio.ensure_future(database.write(slow))
        await asyncio.sleep(0.05)  # the slow one runs; the next one queues behind it
        return await asyncio.gather(first, database.write(_insert(1)), return_exceptions=True)

    answers = asyncio.run(main())
    asyncio.run(database.close())
    assert answers[0] == 0
    assert isinstance(answers[1], WriterQueueTimeout)


REQUEST = contextvars.ContextVar[str]("request")


def test_the_work_sees_its_callers_context_variables(items: Database) -> None:
    async def one(name: str) -> str:
        REQUEST.set(name)
        return await items.write(lambda _session: REQUEST.get())

    async def main() -> list[str]:
        return await asyncio.gather(*(one(f"request-{n}") for n in range(20)))

    assert asyncio.run(main()) == [f"request-{n}" for n in range(20)]


def test_closing_the_database_commits_the_writes_still_queued(items: Database) -> None:
    """Shutdown (the lifespan's Database.close) finishes the queue before the thread ends:
    every write that was queued is stored and answered, none is dropped."""

    async def main() -> list[int]:
        writes = [asyncio.ensure_future(items.write(_insert(n))) for n in range(100)]
        await asyncio.sleep(0)  # each write is queued now, and waits for its group's COMMIT
        await items.close()
        return await asyncio.gather(*writes)

    assert asyncio.run(main()) == list(range(100))
    assert _stored(items) == list(range(100))
