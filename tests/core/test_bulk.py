"""insert_rows: many rows through the driver (COPY on PostgreSQL, multi-row INSERTs on SQLite)
store exactly what SQLAlchemy's INSERT stores; a few rows go through SQLAlchemy itself."""

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlmodel import Session

from app.auth.actor import Actor, Role
from app.core import bulk
from app.history import service as history_service
from app.history.models import EntityType, Revision

ACTOR = Actor(name="bulk test", role=Role.editor, key_id=None, request_id="r" * 32)
REVISIONS = Revision.__table__  # type: ignore[attr-defined]
WHEN = datetime(2026, 11, 30, 15, 0, 0, 123456, tzinfo=UTC)


def snapshot(n: int) -> dict[str, Any]:
    return {
        "name": f"Спикер {n} «quoted» 💧",
        "aliases": [f"alias {n}", "é"],
        "nested": {"n": n, "none": None, "float": n / 3},
    }


def record(conn: Connection, ids: range) -> None:
    history_service.record_creations(
        conn,
        entity_type=EntityType.speaker,
        created=[(entity_id, snapshot(entity_id % 1000)) for entity_id in ids],
        recorded_at=WHEN,
        actor=ACTOR,
        reason="bulk",
    )


def stored(conn: Connection, ids: range) -> list[tuple[Any, ...]]:
    """Every column but the row's own id, as the driver hands back what is stored (JSON
    text, date text on SQLite), in entity order; the entity id is made relative."""
    columns = [c.name for c in REVISIONS.c if c.name not in ("id", "feed_xid")]
    rows = conn.exec_driver_sql(
        f"SELECT {', '.join(columns)} FROM revision "
        f"WHERE entity_id BETWEEN {ids.start} AND {ids.stop - 1} ORDER BY entity_id"
    ).all()
    position = columns.index("entity_id")
    hashed = {columns.index("hash")}
    return [
        tuple(
            value % 1000 if i == position else value
            for i, value in enumerate(row)
            if i not in hashed  # the hash covers the entity id, which differs
        )
        for row in rows
    ]


def test_many_rows_through_the_driver_store_what_sqlalchemy_stores(session: Session) -> None:
    conn = session.connection()
    many = range(1001, 1001 + bulk.DRIVER_MIN_ROWS + 10)
    one_by_one = range(2001, 2001 + bulk.DRIVER_MIN_ROWS + 10)
    record(conn, many)  # the driver path
    for entity_id in one_by_one:  # SQLAlchemy's INSERT, a row at a time
        record(conn, range(entity_id, entity_id + 1))
    through_driver, through_sqlalchemy = stored(conn, many), stored(conn, one_by_one)
    assert len(through_driver) == len(many)
    assert through_driver == through_sqlalchemy


def test_the_feed_position_is_filled_in_by_the_database(session: Session) -> None:
    conn = session.connection()
    record(conn, range(3001, 3001 + bulk.DRIVER_MIN_ROWS))
    missing = conn.execute(
        text("SELECT count(*) FROM revision WHERE entity_id > 3000 AND feed_xid IS NULL")
    ).scalar_one()
    assert missing == 0 or conn.dialect.name == "sqlite"  # SQLite has no transaction ids


def test_rows_must_share_their_columns(session: Session) -> None:
    rows = [{"claim_id": 1, "topic": f"t{n}"} for n in range(bulk.DRIVER_MIN_ROWS)]
    rows[7] = {"claim_id": 1}
    with pytest.raises(ValueError, match="same columns"):
        bulk.insert_rows(session.connection(), REVISIONS.metadata.tables["claim_topic"], rows)


def test_an_unknown_column_is_refused_before_anything_is_sent(session: Session) -> None:
    rows = [{"entity_id": n, "colour": "red"} for n in range(bulk.DRIVER_MIN_ROWS)]
    with pytest.raises(ValueError, match="colour"):
        bulk.insert_rows(session.connection(), REVISIONS, rows)


def test_sqlite_rows_past_one_statement_go_in_several(session: Session) -> None:
    """More rows than the driver lets one statement bind: split into statements that each bind
    at most the limit, every row stored as SQLAlchemy stores it. (The limit is the connection's
    own, lowered for this test; SQLite's trace lists the statements it ran.)"""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        pytest.skip("COPY on PostgreSQL has no variable limit")
    driver = conn.connection.dbapi_connection
    assert isinstance(driver, sqlite3.Connection)
    limit = 40
    traced: list[str] = []
    previous = driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    driver.set_trace_callback(traced.append)
    try:
        many = range(1001, 1001 + bulk.DRIVER_MIN_ROWS + 10)
        record(conn, many)
    finally:
        driver.set_trace_callback(None)
        driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, previous)
    # SQLite itself refuses a statement that binds more than the limit ("too many SQL
    # variables"): that the rows went in at all shows each statement kept within it.
    # Several rows a statement (FTS5 indexes flush at each one), and more than one statement.
    # (The trace repeats a statement at the start of each trigger it fires: counted once.)
    inserts = {sql for sql in traced if sql.startswith("INSERT INTO revision")}
    assert 1 < len(inserts) < len(many)
    one_by_one = range(2001, 2001 + bulk.DRIVER_MIN_ROWS + 10)
    for entity_id in one_by_one:
        record(conn, range(entity_id, entity_id + 1))
    assert stored(conn, many) == stored(conn, one_by_one)


def test_multi_row_statements_bind_at_most_the_limit() -> None:
    sql = "INSERT INTO t (a, b) VALUES (?, ?)"
    values: list[Sequence[Any]] = [(n, -n) for n in range(7)]
    statements = list(bulk._multi_row(sql, values, width=2, variable_limit=6))
    assert [len(parameters) for _, parameters in statements] == [6, 6, 2]
    assert statements[0][0] == "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)"
    assert statements[2] == ("INSERT INTO t (a, b) VALUES (?, ?)", [6, -6])
    # A row wider than the limit still goes, alone: SQLite itself then refuses it.
    assert len(list(bulk._multi_row(sql, values, width=2, variable_limit=1))) == 7
    with pytest.raises(ValueError, match="one-row INSERT"):
        list(bulk._multi_row("COPY t (a, b) FROM STDIN", values, width=2, variable_limit=6))
