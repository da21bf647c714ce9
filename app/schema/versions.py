"""Where a database's schema stands against this code's migrations: at head, behind, or ahead.

Behind is a normal moment (a deploy before `claimtracker migrate`): readiness answers 503 until
it is migrated. Ahead means a newer version of the code migrated the database; this code would
read and write tables it does not know, so it refuses to serve on it (and to restore it).
"""

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from app.core.logs import get_logger

if TYPE_CHECKING:
    from app.core.db import Database

log = get_logger("app.schema")

VERSION_TABLE = "alembic_version"


class SchemaAhead(RuntimeError):
    """The database was migrated by a newer version of the code."""


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None  # None: never migrated (no alembic_version row)
    head: str
    known: bool  # this code has a migration with the current id (or there is none yet)

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    @property
    def ahead(self) -> bool:
        return not self.known

    def ahead_message(self) -> str:
        return (
            f"the database schema is at migration {self.current}, which this code does not "
            f"know (its newest is {self.head}): a newer version migrated it; run that version, "
            "or restore a backup taken before the upgrade"
        )


@cache
def _migrations() -> tuple[str, frozenset[str]]:
    """This code's head and every migration id it has (read once: the scripts do not change
    under a running process)."""
    from alembic.script import ScriptDirectory

    from app.schema.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    if head is None:
        raise RuntimeError("the migrations directory has no head")
    return head, frozenset(script.revision for script in scripts.walk_revisions())


def schema_state(conn: Connection) -> SchemaState:
    """Read the database's migration id on ``conn`` and place it against the code's."""
    head, known = _migrations()
    current: str | None = None
    if inspect(conn).has_table(VERSION_TABLE):
        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return SchemaState(current=current, head=head, known=current is None or current in known)


def refuse_if_ahead(conn: Connection) -> SchemaState:
    """The state, or ``SchemaAhead`` when the database is newer than this code."""
    state = schema_state(conn)
    if state.ahead:
        raise SchemaAhead(state.ahead_message())
    return state


def refuse_to_serve_if_ahead(database: "Database") -> None:
    """Start-up's check: ``SchemaAhead`` on a newer schema. A database that cannot be reached
    is not refused (it may come up later; readiness answers 503 meanwhile)."""
    try:
        with database.read_connection() as conn:
            refuse_if_ahead(conn)
    except SQLAlchemyError as exc:
        log.warning("schema_check_skipped_unreachable", error=type(exc).__name__)
