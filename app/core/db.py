"""Engine, sessions and the database handle a request (or a command) works with.

Writes on SQLite open with ``BEGIN IMMEDIATE`` so that two writers never both read a version and
then race for the lock, and queue for it inside the process (``app.core.sqlite_writer``); on
PostgreSQL the services take a row lock instead.
"""

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
from anyio import to_thread
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from app.core import sqlite_writer
from app.core.settings import Settings, get_settings
from app.tracked.guard import install_bulk_write_guard

T = TypeVar("T")
R = TypeVar("R")
BEGIN_IMMEDIATE = "claims_begin_immediate"
# A single-statement read needs no explicit transaction on SQLite (each statement is atomic).
NO_BEGIN = "claims_no_begin"


def make_engine(url: str | None = None, settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    url = url or settings.database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        # A pool as large as the thread pool's concurrency: the default 5 + 10 starves under
        # load ("QueuePool limit reached", PERFORMANCE.md).
        pool: dict[str, Any] = (
            {} if in_memory else {"pool_size": settings.pool_size, "max_overflow": 8}
        )
        engine = create_engine(
            url,
            connect_args=sqlite_writer.connect_args(),
            json_serializer=_json_text,
            **pool,
        )
        _configure_sqlite(engine, settings)
        return engine
    # No pool_pre_ping: it costs a round trip per request; a dead connection surfaces as a 503
    # and is replaced, and pool_recycle retires connections before servers time them out.
    return create_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size // 2,
        pool_recycle=1800,
        json_serializer=_json_text,
    )


def _json_text(value: Any) -> str:
    # UTF-8 as is (the stdlib default escapes every non-ASCII character: Cyrillic doubles).
    return orjson.dumps(value).decode()


def _configure_sqlite(engine: Engine, settings: Settings) -> None:
    writer_lock = sqlite_writer.WriterLock(settings.sqlite_busy_timeout_ms / 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get(NO_BEGIN, False):
            return
        if not options.get(BEGIN_IMMEDIATE):
            conn.exec_driver_sql("BEGIN")
            return
        # One writer at a time in this process: a queue, not a race (app.core.sqlite_writer).
        writer: sqlite_writer.WriterAwareConnection = conn.connection.dbapi_connection  # type: ignore[assignment]
        try:
            writer.take_turn(writer_lock)
        except sqlite3.Error as exc:  # answered like any database error (503 when busy)
            raise DBAPIError.instance("BEGIN IMMEDIATE", (), exc, sqlite3.Error) from exc
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writer.give_turn_back()
            raise


class Database:
    """What a request needs of the database: ORM sessions for writes, connections for reads.

    Its sessions refuse bulk UPDATE/DELETE on tracked tables (``app.tracked.guard``, installed
    here, where the sessions are made). Tests build one bound to a single connection inside an
    outer transaction, so that every commit a service makes only releases a savepoint and the
    test's writes vanish afterwards.
    """

    def __init__(
        self, engine: Engine, *, bind: Connection | None = None, settings: Settings | None = None
    ) -> None:
        self.engine = engine
        self.bind = bind
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_engine = engine.execution_options(**{BEGIN_IMMEDIATE: True})
        self._single_read_engine = engine.execution_options(**{NO_BEGIN: True})
        self._sessions = sessionmaker(class_=Session, expire_on_commit=False)
        install_bulk_write_guard(self._sessions)
        self._group_writer = (
            sqlite_writer.GroupCommitWriter(
                self._write_engine.connect,
                self.session_on,
                queue_timeout_s=(settings or get_settings()).sqlite_busy_timeout_ms / 1000,
            )
            if self.is_sqlite and bind is None
            else None
        )

    def close(self) -> None:
        """Finish queued writes, close every connection."""
        if self._group_writer is not None:
            self._group_writer.stop()
        self.engine.dispose()

    async def write(self, work: Callable[[Session], R]) -> R:
        """``work(session)`` as one write, from an async handler; the work commits (once).

        SQLite: in the group writer's thread, inside a savepoint of a transaction shared with
        the writes queued meanwhile, answered after that transaction's COMMIT (one fsync for
        the group; ``app.core.sqlite_writer``). PostgreSQL (and tests bound to a connection):
        in the thread pool, on a write session of its own."""
        if self._group_writer is not None:
            return await self._group_writer.write(work)
        return await to_thread.run_sync(self._write_now, work)

    def _write_now(self, work: Callable[[Session], R]) -> R:
        with self.session(write=True) as session:
            return work(session)

    def session(self, *, write: bool = False) -> Session:
        if self.bind is not None:
            return self.session_on(self.bind)
        return self._sessions(bind=self._write_engine if write else self.engine)

    def session_on(self, conn: Connection) -> Session:
        """A session (bulk-write guard included) inside ``conn``'s transaction: its commits
        only release savepoints, the transaction's owner commits."""
        return self._sessions(bind=conn, join_transaction_mode="create_savepoint")

    # --- reads from async handlers -----------------------------------------------------------
    #
    # The trade-off, once: a short read on SQLite takes well under a millisecond, far less than
    # the thread-pool hop FastAPI makes for a plain ``def`` handler (PERFORMANCE.md), so it runs
    # inline on the event loop. A network database must never block the loop: on PostgreSQL
    # the same work runs in the thread pool. The work must be short (a page, one entity, its
    # history); a long one (the verifier) asks for ``snapshot=True`` and runs in the thread
    # pool on both backends.

    async def read(self, work: Callable[[Connection], R], *, snapshot: bool = False) -> R:
        """``work(conn)`` on a read connection. Without ``snapshot``, no transaction is begun
        on SQLite: each statement sees its own moment (enough for one statement, or for
        statements over rows that never change, like revisions). With ``snapshot``, every
        statement sees one moment, and the work runs in the thread pool."""
        if snapshot:
            return await to_thread.run_sync(self._read_snapshot, work)
        if self.is_sqlite:
            return self._read(work)
        return await to_thread.run_sync(self._read, work)

    async def read_driver(self, work: Callable[["Database"], R]) -> R:
        """``read`` for the hottest path, GET by id: ``work`` reads through ``fetch_one``."""
        if self.is_sqlite:
            return work(self)
        return await to_thread.run_sync(work, self)

    def _read(self, work: Callable[[Connection], R]) -> R:
        with self.read_connection(single_statement=True) as conn:
            return work(conn)

    def _read_snapshot(self, work: Callable[[Connection], R]) -> R:
        with self.read_connection(snapshot=True) as conn:
            return work(conn)

    @contextmanager
    def read_connection(
        self, *, single_statement: bool = False, snapshot: bool = False
    ) -> Iterator[Connection]:
        """A connection for reads. ``single_statement`` skips the explicit transaction;
        ``snapshot`` makes every statement see one moment (PostgreSQL's READ COMMITTED would
        let a write land between two reads; a SQLite read transaction is a snapshot already)."""
        if self.bind is not None:
            yield self.bind
            return
        engine = self._single_read_engine if single_statement else self.engine
        with engine.connect() as conn:
            if snapshot and not self.is_sqlite:
                conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn

    def fetch_one(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """One row of ONE statement in the dialect's own SQL, as {column: value}, read with the
        driver's cursor. For the hottest reads: SQLAlchemy's Connection and Result took about
        55 of the 75 µs of a by-id read on SQLite; this takes about 18. No transaction is
        begun (SQLite runs in autocommit: the statement is its own snapshot); driver errors
        are wrapped as SQLAlchemy's, so they answer like any other database error."""
        if self.bind is not None:
            return self._fetch_one(self.bind.connection.dbapi_connection, sql, params)
        connection = self.engine.raw_connection()
        try:
            return self._fetch_one(connection.dbapi_connection, sql, params)
        finally:
            connection.close()

    def _fetch_one(
        self, dbapi_connection: Any, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> dict[str, Any] | None:
        driver = self.engine.dialect.loaded_dbapi
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(sql, params)
                row = cursor.fetchone()
                names = [column[0] for column in cursor.description or ()]
            finally:
                cursor.close()
        except driver.Error as exc:
            raise DBAPIError.instance(sql, params, exc, driver.Error) from exc
        return None if row is None else dict(zip(names, row, strict=True))


def in_chunks(values: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """``values`` in slices for ``IN (...)`` lists, under every driver's bound-parameter limit
    whatever the batch size setting."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
