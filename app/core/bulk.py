"""Many new rows into one table, through the driver: ``COPY ... FROM STDIN`` on PostgreSQL, a few
multi-row ``INSERT ... VALUES (...), (...), ...`` on SQLite.

``conn.execute(insert(table), rows)`` costs per row what a batch import cannot afford. SQLAlchemy
builds each row's parameters through its compiled statement (a fifth of an import's CPU on
SQLite, cProfile), and on PostgreSQL psycopg sends one INSERT per row in a pipeline: half the
LIAR import's time went to waiting on those. Here the values go through the same bind
processors SQLAlchemy would apply (JSON, dates, enums), so the rows stored are the same; only
the way they travel changes. The work runs on the caller's connection, in its transaction.

On SQLite the rows go in as few statements as the driver's variable limit allows, not as one
``executemany`` (a statement per row): FTS5 writes its pending index to disk at the start of
every statement that changes it, so the claim's and the claim texts' FTS5 triggers, fired one
statement per row, wrote a segment per row and then merged them. Timed around each call on
the LIAR import in-process (10,269 rows, 2026-12-01, two runs each way): ``claim_text`` 83 ->
18 µs a row, ``claim`` 56 -> 21, ``revision`` 28 -> 21; the import 3,234-3,346 -> 5,263-5,339
rows/s.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any] | None
# Fewer rows go through SQLAlchemy: one row is one INSERT either way, and COPY's extra round
# trip would cost a single write more than it saves.
DRIVER_MIN_ROWS = 50


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, columns of ``table``) into ``table``."""
    if not rows:
        return
    if len(rows) < DRIVER_MIN_ROWS:
        conn.execute(insert(table), rows)
        return
    dialect = conn.dialect
    sql, names = _statement(dialect, table, tuple(rows[0]))
    processors = _processors(dialect, table, names)
    values = _values(rows, names, processors)
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None
    driver = dialect.loaded_dbapi
    cursor = dbapi_connection.cursor()
    try:
        if dialect.name == "postgresql":
            with cursor.copy(sql) as copy:
                for row in values:
                    copy.write_row(row)
        else:
            limit = dbapi_connection.getlimit(driver.SQLITE_LIMIT_VARIABLE_NUMBER)
            for statement, parameters in _multi_row(sql, values, len(names), limit):
                cursor.execute(statement, parameters)
    except driver.Error as exc:
        raise DBAPIError.instance(sql, None, exc, driver.Error) from exc
    finally:
        cursor.close()


def _values(
    rows: Sequence[Mapping[str, Any]], names: tuple[str, ...], processors: tuple[Processor, ...]
) -> list[Sequence[Any]]:
    """Each row's values in ``names`` order, through the columns' bind processors."""
    pick = itemgetter(*names)
    converted = [(i, process) for i, process in enumerate(processors) if process is not None]
    values: list[Sequence[Any]] = []
    for row in rows:
        if len(row) != len(names):
            raise ValueError(f"every row must have the same columns: {sorted(row)} vs {names}")
        picked = pick(row)
        row_values = list(picked) if len(names) > 1 else [picked]
        for i, process in converted:
            if row_values[i] is not None:
                row_values[i] = process(row_values[i])
        values.append(row_values)
    return values


def _multi_row(
    sql: str, values: list[Sequence[Any]], width: int, variable_limit: int
) -> Iterator[tuple[str, list[Any]]]:
    """``sql`` (an INSERT of one row) for as many rows a statement as ``variable_limit`` lets
    one statement bind, with their values flattened."""
    head, values_keyword, group = sql.partition(" VALUES ")
    if not values_keyword:
        raise ValueError(f"not a one-row INSERT ... VALUES: {sql}")
    per_statement = max(1, variable_limit // width)
    for start in range(0, len(values), per_statement):
        chunk = values[start : start + per_statement]
        statement = f"{head} VALUES {', '.join([group] * len(chunk))}"
        yield statement, [value for row in chunk for value in row]


@cache
def _statement(
    dialect: Dialect, table: Table, keys: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """The statement for rows with ``keys``, and the order its values go in."""
    unknown = set(keys) - set(table.c.keys())
    # A column left out must have no Python-side default: SQLAlchemy's INSERT would fill it
    # in, COPY would not (server defaults apply to both).
    filled = [c.name for c in table.c if c.name not in keys and c.default is not None]
    if unknown or filled:
        raise ValueError(f"{table.name}: no columns {sorted(unknown)}; Python defaults {filled}")
    if dialect.name == "postgresql":
        quote = dialect.identifier_preparer.quote
        columns = ", ".join(quote(name) for name in keys)
        table_name = dialect.identifier_preparer.format_table(table)
        return f"COPY {table_name} ({columns}) FROM STDIN", keys
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    order = tuple(compiled.positiontup or ())
    if not dialect.positional or sorted(order) != sorted(keys):
        raise ValueError(f"{table.name}: unexpected parameters {order}")
    return str(compiled), order


@cache
def _processors(dialect: Dialect, table: Table, names: tuple[str, ...]) -> tuple[Processor, ...]:
    return tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
