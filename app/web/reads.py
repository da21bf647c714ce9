"""Running short reads without a thread hop where that is safe.

The work must be one statement (it runs without an explicit transaction). A read on SQLite
takes well under a millisecond, far less than the thread-pool hop FastAPI makes
for a plain ``def`` handler (PERFORMANCE.md), so it runs inline on the event loop. A network
database must never block the loop: on PostgreSQL the same function runs in the thread pool.
"""

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from app.core.db import Database, database_of

R = TypeVar("R")


def _with_connection(database: Database, work: Callable[[Connection], R]) -> R:
    with database.read_connection(single_statement=True) as conn:
        return work(conn)


async def run_read(request: Request, work: Callable[[Connection], R]) -> R:
    # The database comes from app.state, not a dependency: solving one costs on every request.
    database = database_of(request)
    if database.is_sqlite:
        return _with_connection(database, work)
    return await run_in_threadpool(_with_connection, database, work)


async def run_driver_read(request: Request, work: Callable[[Database], R]) -> R:
    """``run_read`` for work that reads through ``Database.fetch_one``."""
    database = database_of(request)
    if database.is_sqlite:
        return work(database)
    return await run_in_threadpool(work, database)
