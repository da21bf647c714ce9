"""What handlers take from FastAPI besides their body: the database, sessions, path and query
parameters shared by every tracked entity's routes. (The caller: app/auth/dependencies.py;
If-Match: app/web/preconditions.py.)

A router reads with ``await database_of(request).read(work)`` (``fetch_one`` for GET by id)
and writes with ``await database.write(work)`` (``DatabaseDep``), both in ``async def``
handlers: ``work(session)`` calls the service, which commits once.
"""

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from app.core.db import Database
from app.history.schemas import Reason
from app.vocabulary.types import MAX_ID


def database_of(request: Request) -> Database:
    """This app's database (``app.state``): no dependency to solve on hot reads."""
    database: Database = request.app.state.database
    return database


async def get_database(request: Request) -> Database:
    # async on purpose: a plain `def` dependency would cost a thread-pool hop.
    return database_of(request)


DatabaseDep = Annotated[Database, Depends(get_database)]

EntityId = Annotated[int, Path(ge=1, le=MAX_ID, description="The entity's id.")]
# A version is an INTEGER column too.
VersionNumber = Annotated[int, Path(ge=1, le=MAX_ID, description="A version, 1 for the first.")]
AsOf = Annotated[
    str | None,
    Query(
        max_length=64,
        description="A version number (`7`) or an ISO 8601 UTC timestamp: the entity as it was "
        "then, read from its history.",
    ),
]
ReasonQuery = Annotated[Reason, Query(description="Why, for the history (required).")]
OptionalReasonQuery = Annotated[Reason | None, Query(description="Why, for the history.")]
