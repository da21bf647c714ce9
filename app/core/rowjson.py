"""Table rows straight to JSON-ready values, without building models: the hot read path.

The SQL part only (which columns, computed how, and the precompiled by-id statement); the
responses are built on the web side (app/web/responses.py).
"""

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Integer,
    Row,
    Select,
    String,
    Table,
    Text,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.psycopg import dialect as postgresql_dialect
from sqlalchemy.dialects.sqlite.pysqlite import dialect as sqlite_dialect
from sqlalchemy.engine import Dialect

from app.core.db import Database


def _is_datetime(column: Any) -> bool:
    return isinstance(getattr(column.type, "impl", column.type), DateTime)


def _iso_utc(column: Any, dialect: str) -> Any:
    """The timestamp as pydantic writes it: 'YYYY-MM-DDTHH:MM:SSZ', or with '.ffffff' when
    there are microseconds, computed by the database."""
    if dialect == "sqlite":  # stored as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'
        stored = type_coerce(column, String)
        day_and_t = func.substr(stored, 1, 10).concat("T")
        whole = day_and_t.concat(func.substr(stored, 12, 8)).concat("Z")
        fraction = day_and_t.concat(func.substr(stored, 12)).concat("Z")
        return case((func.substr(stored, 21) == "000000", whole), else_=fraction)
    utc = column.op("AT TIME ZONE")(literal_column("'UTC'"))
    whole = func.to_char(utc, literal_column("""'YYYY-MM-DD"T"HH24:MI:SS"Z"'"""))
    fraction = func.to_char(utc, literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""))
    return case((func.date_trunc("second", column) == column, whole), else_=fraction)


def _json_ready(column: Any, dialect: str) -> Any:
    if isinstance(column.type, JSON):
        return cast(column, Text)  # the stored text, passed through as is
    if _is_datetime(column):
        return _iso_utc(column, dialect)
    return column


class RowJson:
    """Table rows straight to JSON, without building models: the hot read path.

    The database hands every value over ready for JSON: JSON columns as their stored text
    (passed through with orjson.Fragment), enums as plain strings, timestamps as pydantic
    writes them. The column list is compiled to SQL once per dialect, so a request builds
    and caches only its WHERE clause. Only for tables whose columns are exactly their Public
    model's fields (tests/web/test_serialization.py holds them to it).
    """

    DIALECTS = {"sqlite": sqlite_dialect(), "postgresql": postgresql_dialect()}  # type: ignore[no-untyped-call]

    def __init__(self, table: Table, order: Iterable[str] | None = None) -> None:
        """``order``: the Public model's fields, so that the JSON keys come in the order the
        model writes them (the table's column order otherwise)."""
        self.table = table
        columns = [table.c[name] for name in order] if order else list(table.columns)
        self.keys = tuple(column.name for column in columns)  # the select's order
        self.json_keys = tuple(c.name for c in columns if isinstance(c.type, JSON))
        self._columns: dict[str, Any] = {}
        for name, dialect in self.DIALECTS.items():
            parts = []
            for column in columns:
                expression = _json_ready(column, name).compile(
                    dialect=dialect, compile_kwargs={"literal_binds": True}
                )
                parts.append(f"{expression} AS {dialect.identifier_preparer.quote(column.name)}")
            self._columns[name] = literal_column(", ".join(parts))

        # GET by id is the hottest read: its SQL is compiled once and run as driver SQL.
        self._by_id_sql = {
            name: str(
                self.select(name).where(table.c.id == bindparam("id")).compile(dialect=dialect)
            )
            for name, dialect in self.DIALECTS.items()
        }
        # Rows whose column is one of many values (a page's speakers, a claim's evidence):
        # compiled on first use, one SQL text per column whatever the number of values.
        self._in_sql: dict[tuple[str, str], str] = {}

    def select(self, dialect: str) -> Select[Any]:
        return select(self._columns[dialect]).select_from(self.table)

    def _by_id(self, dialect: Dialect, entity_id: int) -> tuple[str, Any]:
        """The precompiled by-id SQL of ``dialect`` and its parameters."""
        params = (entity_id,) if dialect.positional else {"id": entity_id}
        return self._by_id_sql[dialect.name], params

    def by_id(self, conn: Connection, entity_id: int) -> Row[Any] | None:
        return conn.exec_driver_sql(*self._by_id(conn.dialect, entity_id)).first()

    async def fetch_by_id(self, database: Database, entity_id: int) -> dict[str, Any] | None:
        """``by_id`` straight from the driver (``Database.fetch_one``): the hottest read, on
        the event loop (PostgreSQL's async pool, SQLite inline)."""
        return await database.fetch_one(*self._by_id(database.engine.dialect, entity_id))

    def _where_in(self, dialect: Dialect, column: str) -> str:
        key = (dialect.name, column)
        sql = self._in_sql.get(key)
        if sql is None:
            # One bound value, whatever the count: an array on PostgreSQL, a JSON array on
            # SQLite, so the text (and the driver's statement caches) stay the same.
            condition: Any
            if dialect.name == "postgresql":
                values = bindparam("values", type_=postgresql.ARRAY(Integer))
                condition = self.table.c[column] == any_(values)
            else:
                each = func.json_each(bindparam("values", type_=String))
                condition = self.table.c[column].in_(
                    select(literal_column("value")).select_from(each)
                )
            statement = self.select(dialect.name).where(condition).order_by(self.table.c.id)
            sql = self._in_sql[key] = str(statement.compile(dialect=dialect))
        return sql

    async def fetch_in(
        self, database: Database, column: str, values: Sequence[int]
    ) -> list[dict[str, Any]]:
        """The rows whose integer ``column`` is one of ``values``, by id, JSON-ready (as
        ``as_json_ready``): one statement, read as ``fetch_by_id`` reads."""
        dialect = database.engine.dialect
        ids = list(values)
        bound: Any = ids if dialect.name == "postgresql" else orjson.dumps(ids).decode()
        params = (bound,) if dialect.positional else {"values": bound}
        rows = await database.fetch_all(self._where_in(dialect, column), params)
        return [self.as_json_ready(row) for row in rows]

    def as_dicts(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Rows of ``select`` (in its column order) as {column: value}, JSON columns as
        orjson fragments (their stored text)."""
        keys = self.keys
        items = [dict(zip(keys, row, strict=True)) for row in rows]
        for item in items:
            self.as_json_ready(item)
        return items

    def as_json_ready(self, item: dict[str, Any]) -> dict[str, Any]:
        """One row from ``fetch_by_id`` with its JSON columns as orjson fragments; in place."""
        for key in self.json_keys:
            item[key] = orjson.Fragment(item[key])
        return item


def json_rows_text(dialect: str, columns: Sequence[Any], *conditions: Any) -> Any:
    """A scalar subquery: the rows matching ``conditions``, each a JSON array of ``columns``,
    as one JSON text (``[]`` when there are none). Neither database promises the rows' order."""
    rows: Any
    if dialect == "postgresql":
        aggregate = cast(func.json_agg(func.json_build_array(*columns)), Text)
        rows = func.coalesce(aggregate, literal_column("'[]'"))
    else:
        rows = func.json_group_array(func.json_array(*columns))
    return select(rows).where(*conditions).scalar_subquery()
