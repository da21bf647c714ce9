"""Engine, sessions and the database handle a request (or a command) works with.

Writes on SQLite open with ``BEGIN IMMEDIATE`` so that two writers never both read a version and
then race for the lock, and queue for it inside the process (``app.core.sqlite_writer``); on
PostgreSQL the services take a row lock instead.
"""

import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import perf_counter
from typing import Any, TypeVar

import anyio
import orjson
import psycopg
from anyio import to_thread
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import PoolProxiedConnection
from sqlmodel import Session

from app.core import sqlite_writer
from app.core.budget import PoolPlan, libpq_url
from app.core.request_record import add_db_seconds
from app.core.settings import Settings, get_settings
from app.tracked.guard import install_bulk_write_guard

T = TypeVar("T")
R = TypeVar("R")
BEGIN_IMMEDIATE = "claims_begin_immediate"
# A single-statement read needs no explicit transaction on SQLite (each statement is atomic).
NO_BEGIN = "claims_no_begin"
# How many PostgreSQL writes run at once in a process: more threads than cores only fight for
# the GIL. POST at c=32 on PostgreSQL, alternating runs: 8 threads 440-450 req/s, p99 125-127 ms;
# the thread pool's 40: 388-448 req/s, p99 160-199 ms; 4 threads: 414 req/s, p99 120 ms.
WRITE_THREADS = 8


def make_engine(
    url: str | None = None, settings: Settings | None = None, *, plan: PoolPlan | None = None
) -> Engine:
    """The engine; on PostgreSQL its pool and overflow come from ``plan`` (this process's
    share of the connection budget, ``app.core.budget``) when given."""
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
    # A wait for a connection is bounded: past it, sqlalchemy.exc.TimeoutError answers 503.
    return create_engine(
        url,
        pool_size=plan.sync_pool_size if plan else settings.pool_size,
        max_overflow=plan.sync_max_overflow if plan else settings.pool_size // 2,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_recycle=1800,
        json_serializer=_json_text,
        connect_args=driver_options(settings),
    )


def driver_options(settings: Settings) -> dict[str, Any]:
    """psycopg's connection options. Behind a transaction pooler (PgBouncer before 1.21 keeps
    no prepared statements across its server connections) psycopg must prepare nothing."""
    return {"prepare_threshold": None} if settings.db_pooler else {}


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
        self._read_pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None
        # SQLite's inline reads all run on one thread, the event loop's: they keep one
        # connection instead of a pool checkout and checkin per read (a tenth of a GET by id).
        self._loop_reader: tuple[int, PoolProxiedConnection] | None = None
        # PostgreSQL writes (and tests' bound writes) in the thread pool, a few at a time.
        self._write_limiter = anyio.CapacityLimiter(WRITE_THREADS)
        self._write_listeners: list[Callable[[], None]] = []

    def on_write(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` on the event loop after each write of this process committed
        (the change stream's wake-up on SQLite, where there is no NOTIFY)."""
        self._write_listeners.append(listener)

    async def write(self, work: Callable[[Session], R]) -> R:
        """``work(session)`` as one write, from an async handler; the work commits (once).

        SQLite: in the group writer's thread, inside a savepoint of a transaction shared with
        the writes queued meanwhile, answered after that transaction's COMMIT (one fsync for
        the group; ``app.core.sqlite_writer``). PostgreSQL (and tests bound to a connection):
        in the thread pool, on a write session of its own.

        The time it takes counts as the request's database time (``app.core.request_record``),
        the writer queue and the group's COMMIT included: that is what the request waits for."""
        started = perf_counter()
        try:
            if self._group_writer is not None:
                result = await self._group_writer.write(work)
            else:
                result = await to_thread.run_sync(
                    self._write_now, work, limiter=self._write_limiter
                )
        finally:
            add_db_seconds(perf_counter() - started)
        for listener in self._write_listeners:
            listener()
        return result

    def _write_now(self, work: Callable[[Session], R]) -> R:
        with self.session(write=True) as session:
            return work(session)

    async def open_read_pool(self, *, size: int, settings: Settings) -> None:
        """Open the async read pool (PostgreSQL only, and not with a test ``bind``): the
        driver reads (``fetch_one``, ``fetch_all``) then run on the event loop, no thread
        hop. Connections are made in the background, so a database that is down at start-up
        only makes requests answer 503."""
        if self.is_sqlite or self.bind is not None or self._read_pool is not None:
            return
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            libpq_url(self.engine.url.render_as_string(hide_password=False)),
            min_size=1,
            max_size=size,
            timeout=settings.db_pool_timeout_seconds,
            # Autocommit: a read is one statement, with no BEGIN and ROLLBACK round trips.
            kwargs={"autocommit": True, **driver_options(settings)},
            open=False,
            name="claims-reads",
        )
        await pool.open(wait=False)
        self._read_pool = pool

    async def close(self) -> None:
        """Finish queued writes, close the read pool, dispose of the engine's connections."""
        if self._group_writer is not None:
            await to_thread.run_sync(self._group_writer.stop)
        if self._read_pool is not None:
            await self._read_pool.close()
            self._read_pool = None
        if self._loop_reader is not None:
            self._loop_reader[1].close()
            self._loop_reader = None
        self.engine.dispose()

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
    # the same work runs in the thread pool, unless it is one statement of driver SQL
    # (``fetch_one``, ``fetch_all``), which the async read pool runs on the loop itself. The
    # work must be short (a page, one entity, its history); a long one (the verifier) asks for
    # ``snapshot=True`` and runs in the thread pool on both backends.

    async def read(self, work: Callable[[Connection], R], *, snapshot: bool = False) -> R:
        """``work(conn)`` on a read connection. Without ``snapshot``, no transaction is begun
        on SQLite: each statement sees its own moment (enough for one statement, or for
        statements over rows that never change, like revisions). With ``snapshot``, every
        statement sees one moment, and the work runs in the thread pool. Its time counts as
        the request's database time, the pool wait and thread hop included."""
        started = perf_counter()
        try:
            if snapshot:
                return await to_thread.run_sync(self._read_snapshot, work)
            if self.is_sqlite:
                return self._read(work)
            return await to_thread.run_sync(self._read, work)
        finally:
            add_db_seconds(perf_counter() - started)

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

    def check_reachable(self) -> None:
        """One round trip on a pooled connection: raises what a read would meet (refused, too
        many clients, pool timeout). For a stream, whose 200 is sent before its first row."""
        with self.read_connection(single_statement=True) as conn:
            conn.exec_driver_sql("SELECT 1")

    async def fetch_one(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """One row of ONE statement in the dialect's own SQL, as {column: value}, read with the
        driver's cursor: the hottest reads (GET by id). SQLAlchemy's Connection and Result took
        about 55 of the 75 µs of a by-id read on SQLite; this takes about 18. No transaction is
        begun (the statement is its own snapshot). On PostgreSQL it reads through the async
        pool, on SQLite inline (a sub-millisecond read costs less than a thread hop); driver
        errors are wrapped as SQLAlchemy's, so they answer like any other database error."""
        names, rows = await self._fetch(sql, params, one=True)
        return dict(zip(names, rows[0], strict=True)) if rows else None

    async def fetch_all(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Every row of ONE statement, as ``fetch_one`` reads one."""
        names, rows = await self._fetch(sql, params, one=False)
        return [dict(zip(names, row, strict=True)) for row in rows]

    async def fetch_rows(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """Every row of ONE statement as the driver's tuples, in the statement's column order
        (list pages: no dict per row)."""
        return (await self._fetch(sql, params, one=False))[1]

    async def _fetch(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any], *, one: bool
    ) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
        started = perf_counter()
        try:
            if self.bind is not None:  # a test's transaction: read inside it, as everything does
                return self._fetch_sync(self.bind.connection.dbapi_connection, sql, params, one)
            if self._read_pool is not None:
                return await self._fetch_async(self._read_pool, sql, params, one)
            if self.is_sqlite:
                return self._fetch_on_loop_reader(sql, params, one)
            # PostgreSQL without an open read pool (a command, a test's app): the thread pool.
            return await to_thread.run_sync(self._fetch_pooled, sql, params, one)
        finally:
            add_db_seconds(perf_counter() - started)

    @staticmethod
    async def _fetch_async(
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        sql: str,
        params: Sequence[Any] | Mapping[str, Any],
        one: bool,
    ) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
        try:
            async with pool.connection() as conn:
                cursor = await conn.execute(sql, params)
                if one:
                    row = await cursor.fetchone()
                    rows = [] if row is None else [row]
                else:
                    rows = await cursor.fetchall()
                names = _COLUMN_NAMES.get(sql) or _column_names(cursor, sql)
        except psycopg.Error as exc:  # PoolTimeout included: it is an OperationalError
            raise DBAPIError.instance(sql, params, exc, psycopg.Error) from exc
        return names, rows

    def _fetch_on_loop_reader(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any], one: bool
    ) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
        thread = threading.get_ident()
        if self._loop_reader is None:
            self._loop_reader = (thread, self.engine.raw_connection())
        owner, connection = self._loop_reader
        if owner != thread:  # another loop of the same process: no sharing across threads
            return self._fetch_pooled(sql, params, one)
        try:
            return self._fetch_sync(connection.dbapi_connection, sql, params, one)
        except DBAPIError:
            # Whatever the error, the next read starts on a fresh connection.
            self._loop_reader = None
            connection.invalidate()
            raise

    def _fetch_pooled(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any], one: bool
    ) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
        connection = self.engine.raw_connection()
        try:
            return self._fetch_sync(connection.dbapi_connection, sql, params, one)
        finally:
            connection.close()

    def _fetch_sync(
        self,
        dbapi_connection: Any,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any],
        one: bool,
    ) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
        driver = self.engine.dialect.loaded_dbapi
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(sql, params)
                if one:
                    row = cursor.fetchone()
                    rows = [] if row is None else [row]
                else:
                    rows = cursor.fetchall()
                names = [column[0] for column in cursor.description or ()]
            finally:
                cursor.close()
        except driver.Error as exc:
            raise DBAPIError.instance(sql, params, exc, driver.Error) from exc
        return names, rows


# The column names of each statement ``fetch_one``/``fetch_all`` ran on the async pool: the
# statements are the app's own constants, and ``cursor.description`` builds a Column object per
# column per call (a fifth of the driver's CPU on a by-id read, cProfile).
_COLUMN_NAMES: dict[str, tuple[str, ...]] = {}


def _column_names(cursor: psycopg.AsyncCursor[Any], sql: str) -> tuple[str, ...]:
    result = cursor.pgresult
    if result is None:
        return ()
    names = tuple((result.fname(i) or b"").decode() for i in range(result.nfields))
    if len(_COLUMN_NAMES) < 1000:  # bounded, whatever SQL a caller sends
        _COLUMN_NAMES[sql] = names
    return names


def in_chunks(values: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """``values`` in slices for ``IN (...)`` lists, under every driver's bound-parameter limit
    whatever the batch size setting."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
