"""The bulk-write guard: a bulk UPDATE/DELETE on a tracked table (or on the revision table)
would change rows without a revision, so sessions refuse it; row changes go through the
services. Installed explicitly on a session factory (``install_bulk_write_guard``) where the
sessions are made (``app.core.db.Database``), never on SQLAlchemy's global ``Session``."""

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState

from app.core import errors
from app.tracked.models import tracked_tables

REVISION_TABLE = "revision"


class BulkWriteRefused(errors.AppError):
    status, slug, title = 409, "bulk-write-refused", "Conflict"


def refuse_bulk_writes(state: ORMExecuteState) -> None:
    """``do_orm_execute`` hook: refuse a bulk UPDATE/DELETE of tracked rows or revisions."""
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name == REVISION_TABLE or name in tracked_tables():
        raise BulkWriteRefused(
            f"Bulk {'UPDATE' if state.is_update else 'DELETE'} on {name} is refused: "
            "it would bypass the change history. Use the service functions."
        )


def install_bulk_write_guard(sessions: Any) -> None:
    """Refuse bulk writes in every session ``sessions`` makes (a ``sessionmaker``, or a
    ``Session`` subclass of our own). Installing it twice is harmless."""
    if not event.contains(sessions, "do_orm_execute", refuse_bulk_writes):
        event.listen(sessions, "do_orm_execute", refuse_bulk_writes)
