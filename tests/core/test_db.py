"""Database.fetch_one: the driver-level read behind GET /claims/{id}."""

from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from app.claims import queries as claims_queries
from app.core.db import Database, make_engine
from app.schema.migrate import upgrade
from tests.conftest import drop_pg_database, fresh_database_url


def test_a_row_comes_back_as_a_mapping_and_a_miss_as_none(db: Database) -> None:
    found = db.fetch_one("SELECT 1 AS one, 'x' AS letter", ())
    assert found == {"one": 1, "letter": "x"}
    assert claims_queries.ROWS.fetch_by_id(db, 123_456) is None


def test_driver_errors_are_sqlalchemy_errors(db: Database) -> None:
    with pytest.raises(DBAPIError):
        db.fetch_one("SELECT FROM nowhere at all", ())


def test_without_a_test_transaction_it_borrows_and_returns_a_pooled_connection(
    backend: str, tmp_path: Path
) -> None:
    url = fresh_database_url(backend, tmp_path)
    upgrade(url)
    engine = make_engine(url)
    try:
        database = Database(engine)
        for _ in range(3):
            assert database.fetch_one("SELECT 2 AS two", ()) == {"two": 2}
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_pg_database(url)
