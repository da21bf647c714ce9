"""Many new rows into one table, through the driver: ``COPY ... FROM STDIN`` on PostgreSQL, one
``executemany`` of an INSERT compiled once on SQLite.

``conn.execute(insert(table), rows)`` costs per row what a batch import cannot afford. SQLAlchemy
builds each row's parameters through its compiled statement (a fifth of an import's CPU on
SQLite, cProfile), and on PostgreSQL psycopg sends one INSERT per row in a pipeline: half the
LIAR import's time went to waiting on those. Here the values go through the same bind
processors SQLAlchemy would apply (JSON, dates, enums), so the rows stored are the same; only
the way they travel changes. The work runs on the caller's connection, in its transaction.
"""

from collections.abc import Callable, Mapping, Sequence
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
            cursor.executemany(sql, values)
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
