"""Database.fetch_one / fetch_all: the driver-level reads behind GET /claims/{id}, inline on
SQLite, through the async read pool on PostgreSQL."""

from collections.abc import AsyncIterator

import anyio
import pytest
from anyio import to_thread
from sqlalchemy.exc import DBAPIError, OperationalError

from app.claims import queries as claims_queries
from app.core.db import Database, make_engine
from app.core.settings import Settings
from tests.conftest import PG_URL

pytestmark = pytest.mark.anyio
needs_pg = pytest.mark.skipif(not PG_URL, reason="needs CLAIMS_TEST_PG_URL")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def pooled(migrated_database_url: str) -> AsyncIterator[Database]:
    """A Database as the server opens it: on PostgreSQL with its async read pool (2 slots, a
    short wait for a free one)."""
    settings = Settings(database_url=migrated_database_url, db_pool_timeout_seconds=0.5)
    database = Database(make_engine(migrated_database_url, settings))
    await database.open_read_pool(size=2, settings=settings)
    yield database
    await database.close()


async def test_a_row_comes_back_as_a_mapping_and_a_miss_as_none(db: Database) -> None:
    found = await db.fetch_one("SELECT 1 AS one, 'x' AS letter", ())
    assert found == {"one": 1, "letter": "x"}
    assert await claims_queries.ROWS.fetch_by_id(db, 123_456) is None


async def test_fetch_all_returns_every_row_of_one_statement(db: Database) -> None:
    sql = "SELECT 1 AS n UNION ALL SELECT 2 ORDER BY 1"
    assert await db.fetch_all(sql, ()) == [{"n": 1}, {"n": 2}]


async def test_driver_errors_are_sqlalchemy_errors(db: Database) -> None:
    with pytest.raises(DBAPIError):
        await db.fetch_one("SELECT FROM nowhere at all", ())


async def test_without_a_test_transaction_it_borrows_and_returns_a_pooled_connection(
    migrated_database_url: str,
) -> None:
    engine = make_engine(migrated_database_url)
    try:
        database = Database(engine)  # no read pool opened: the engine's pool serves
        for _ in range(3):
            assert await database.fetch_one("SELECT 2 AS two", ()) == {"two": 2}
        # SQLite's inline reads keep one connection for the loop's thread; PostgreSQL's
        # thread-pool reads return theirs after each read.
        assert engine.pool.checkedout() == (1 if database.is_sqlite else 0)
        await database.close()
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()


async def test_the_read_pool_reads_on_the_event_loop_without_a_thread(pooled: Database) -> None:
    # Every worker thread taken: a read that hopped to the thread pool would wait forever.
    limiter = to_thread.current_default_thread_limiter()
    borrowers = [object() for _ in range(int(limiter.total_tokens))]
    for borrower in borrowers:
        await limiter.acquire_on_behalf_of(borrower)
    try:
        with anyio.fail_after(10):
            for _ in range(3):
                assert await pooled.fetch_all("SELECT 3 AS three", ()) == [{"three": 3}]
    finally:
        for borrower in borrowers:
            limiter.release_on_behalf_of(borrower)


@needs_pg
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_reads_beyond_the_pool_wait_then_fail_as_an_operational_error(
    pooled: Database,
) -> None:
    assert pooled._read_pool is not None
    async with pooled._read_pool.connection(), pooled._read_pool.connection():
        with pytest.raises(OperationalError):  # answered as 503 by app.web.problems
            await pooled.fetch_one("SELECT 1 AS one", ())
    assert await pooled.fetch_one("SELECT 1 AS one", ()) == {"one": 1}


@needs_pg
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_the_read_pool_holds_at_most_its_size(pooled: Database) -> None:
    async def read_slowly() -> None:
        await pooled.fetch_one("SELECT pg_sleep(0.2)", ())

    async with anyio.create_task_group() as group:
        for _ in range(4):  # twice the pool: two wait their turn (within the 0.5 s)
            group.start_soon(read_slowly)
    assert pooled._read_pool is not None
    assert pooled._read_pool.get_stats()["pool_size"] <= 2
