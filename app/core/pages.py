"""List pages as driver SQL: each shape of a list query is compiled once, then every page of
that shape is one ``cursor.execute`` with its values.

A list's page used to build its SELECT per request (SQLAlchemy expressions, a cache key, a
result object per row): about half of the server's CPU for a page of 50. Here a page's shape
(which filters are set, the sort, which part of the keyset walk) picks SQL compiled on first
use; the request supplies only values, bound through the columns' own type processors, and
gets the rows as the driver's tuples. Sorts and cursors are ``app.core.paging``'s; on a
nullable sort the rows with a value come first, then those without, each part read by its own
index-friendly statement (an ``OR column IS NULL`` would defeat the index).
"""

import operator
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Integer, String, and_, bindparam, func, or_, tuple_
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from app.core.paging import SortKey, decode_cursor, encode_cursor, pick_sort
from app.core.rowjson import RowJson

if TYPE_CHECKING:
    from app.core.db import Database

# A WHERE condition for a dialect, its value bound as ``bindparam(<its filter name>)``.
Condition = Callable[[str], Any]


def compare(column: Any, comparison: Callable[[Any, Any], Any], name: str) -> Condition:
    """``column <comparison> :name``, the value bound with the column's type."""
    return lambda _dialect: comparison(column, bindparam(name, type_=column.type))


def equals(column: Any, name: str) -> Condition:
    return compare(column, operator.eq, name)


def like_any(columns: Sequence[Any], name: str, *, lower: bool = True) -> Condition:
    """Any of ``columns`` (lowercased) LIKE ``:name`` (a ``like_pattern``, escape ``\\``)."""
    bound = bindparam(name, type_=String())

    def condition(_dialect: str) -> Any:
        return or_(*((func.lower(c) if lower else c).like(bound, escape="\\") for c in columns))

    return condition


CURSOR_VALUE = "page_cursor_value"
CURSOR_ID = "page_cursor_id"
LIMIT = "page_limit"
# Shapes kept compiled per list: the common ones are few; an odd mix of filters past this is
# compiled on each request rather than kept forever.
MAX_SHAPES = 256
# A statement to run (driver SQL, its parameters) and a page (its rows, the next cursor).
Statement = tuple[str, Sequence[Any] | dict[str, Any]]
Page = tuple[list[tuple[Any, ...]], str | None]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # positional order, or the named parameters
    processors: Mapping[str, Callable[[Any], Any] | None]
    constants: Mapping[str, Any]  # values the statement itself binds (none of the request's)
    positional: bool

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        bound = {}
        for name in self.names:
            value = values[name] if name in values else self.constants[name]
            process = self.processors[name]
            bound[name] = process(value) if process is not None and value is not None else value
        return tuple(bound[name] for name in self.names) if self.positional else bound


class KeysetList:
    """A collection's keyset pages: live rows of ``rows``' table, the filters it offers (by
    name), its sorts. ``page`` reads one page with one statement (two only on a nullable
    sort, where the page crosses from the rows with a value to those without)."""

    def __init__(
        self,
        rows: RowJson,
        sorts: dict[str, SortKey],
        conditions: Mapping[str, Condition],
    ) -> None:
        self.rows = rows
        self.sorts = sorts
        self.conditions = conditions
        self._compiled: dict[tuple[Any, ...], _Compiled] = {}
        self._index = {name: index for index, name in enumerate(rows.keys)}

    async def page(
        self,
        database: "Database",
        filters: Mapping[str, Any],
        sort_name: str,
        cursor: str | None,
        limit: int,
    ) -> Page:
        """One page of rows (the table's columns, JSON-ready) and the next page's cursor.
        ``filters`` maps filter names to this request's values (absent: not filtered). Read
        with ``Database.fetch_rows``: the async pool on PostgreSQL, inline on SQLite."""
        walk = self._walk(database.engine.dialect, filters, sort_name, cursor, limit)
        try:
            statement = next(walk)
            while True:
                statement = walk.send(await database.fetch_rows(*statement))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def page_on(
        self,
        conn: Connection,
        filters: Mapping[str, Any],
        sort_name: str,
        cursor: str | None,
        limit: int,
    ) -> Page:
        """``page`` on a connection the caller holds (a streamed export, in a worker thread)."""
        walk = self._walk(conn.dialect, filters, sort_name, cursor, limit)
        try:
            statement = next(walk)
            while True:
                statement = walk.send(_driver_rows(conn, *statement))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _walk(
        self,
        dialect: Dialect,
        filters: Mapping[str, Any],
        sort_name: str,
        cursor: str | None,
        limit: int,
    ) -> Generator[Statement, list[tuple[Any, ...]], Page]:
        """The keyset walk without I/O: yields each statement to run, is sent its rows."""
        sort = pick_sort(self.sorts, sort_name)
        value, last_id = decode_cursor(cursor, sort) if cursor else (None, None)
        in_null_tail = sort.nullable and cursor is not None and value is None
        values = {**filters, CURSOR_VALUE: value, CURSOR_ID: last_id}
        wanted = limit + 1
        rows: list[tuple[Any, ...]] = []
        if not in_null_tail:
            part = "head" if last_id is None else "head-after"
            rows = yield self._statement(dialect, filters, sort, part, {**values, LIMIT: wanted})
        if sort.nullable and len(rows) < wanted:
            part = "tail-after" if in_null_tail and last_id is not None else "tail"
            rest = {**values, LIMIT: wanted - len(rows)}
            rows = rows + (yield self._statement(dialect, filters, sort, part, rest))
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        last = rows[-1]
        last_value = None if sort.by_id else last[self._index[sort.column.name]]
        return rows, encode_cursor(sort, last_value, last[self._index[sort.id_column.name]])

    def _statement(
        self,
        dialect: Dialect,
        filters: Mapping[str, Any],
        sort: SortKey,
        part: str,
        values: Mapping[str, Any],
    ) -> Statement:
        key = (dialect.name, tuple(filters), sort.name, part)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compile(dialect, tuple(filters), sort, part)
            if len(self._compiled) < MAX_SHAPES:
                self._compiled[key] = compiled
        return compiled.sql, compiled.params(values)

    def _compile(
        self, dialect: Dialect, names: tuple[str, ...], sort: SortKey, part: str
    ) -> _Compiled:
        table = self.rows.table
        statement = self.rows.select(dialect.name).where(table.c.deleted_at.is_(None))
        for name in names:
            statement = statement.where(self.conditions[name](dialect.name))
        order = sort.order_by()
        if part.startswith("head"):
            if sort.nullable:
                statement = statement.where(sort.column.is_not(None))
            if part == "head-after":
                statement = statement.where(_after(sort))
        else:
            statement = statement.where(sort.column.is_(None))
            if part == "tail-after":
                statement = statement.where(_id_after(sort))
            order = order[1:]
        statement = statement.order_by(*order).limit(bindparam(LIMIT, type_=Integer()))
        compiled = statement.compile(dialect=dialect)
        processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        if dialect.positional:
            assert compiled.positiontup is not None
            order_of_names = tuple(compiled.positiontup)
        else:
            order_of_names = tuple(compiled.binds)
        constants = {
            name: bind.value
            for name, bind in compiled.binds.items()
            if name not in (*names, CURSOR_VALUE, CURSOR_ID, LIMIT)
        }
        return _Compiled(str(compiled), order_of_names, processors, constants, dialect.positional)


def _driver_rows(
    conn: Connection, sql: str, params: Sequence[Any] | dict[str, Any]
) -> list[tuple[Any, ...]]:
    driver = conn.dialect.loaded_dbapi
    try:
        db_cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            db_cursor.execute(sql, params)
            return list(db_cursor.fetchall())
        finally:
            db_cursor.close()
    except driver.Error as exc:
        raise DBAPIError.instance(sql, params, exc, driver.Error) from exc


def _id_after(sort: SortKey) -> Any:
    last_id = bindparam(CURSOR_ID, type_=sort.id_column.type)
    return sort.id_column < last_id if sort.descending else sort.id_column > last_id


def _after(sort: SortKey) -> Any:
    """Rows strictly after (value, last id) in the sort's order (``SortKey.after``)."""
    if sort.by_id:
        return _id_after(sort)
    # Bound with the column's type: a bare datetime would reach SQLite in another text format.
    bound = tuple_(
        bindparam(CURSOR_VALUE, type_=sort.column.type),
        bindparam(CURSOR_ID, type_=sort.id_column.type),
    )
    row = tuple_(sort.column, sort.id_column)
    return and_(row < bound if sort.descending else row > bound)
