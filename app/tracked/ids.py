"""The id a new entity will get, known before its INSERT: its creation revision names it (and
hashes it), so the entity and its revision are each written once, the head hash included,
instead of an INSERT, then an UPDATE of the head hash.

PostgreSQL draws it from the id column's sequence. SQLite would hand out max(id) + 1 itself
(the tables use plain rowids, no AUTOINCREMENT), and a writer holds the database lock
(BEGIN IMMEDIATE) until it commits, so the next id is the one an INSERT would have taken; a
writer that read it without the lock cannot commit over another's (WAL refuses to upgrade a
stale read snapshot into a write).
"""

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Table
from sqlmodel import Session


def next_id(table: Table, dialect: str) -> ColumnElement[int]:
    """An expression for the next id of ``table``, to select alone or with other checks."""
    if dialect == "postgresql":
        return sa.func.nextval(sa.func.pg_get_serial_sequence(table.name, "id"))
    highest = sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0)).scalar_subquery()
    return highest + 1


def reserve_id(session: Session, table: Table) -> int:
    """The next id of ``table``, reserved for the entity about to be inserted (one statement)."""
    conn = session.connection()
    return int(conn.execute(sa.select(next_id(table, conn.dialect.name))).scalar_one())
