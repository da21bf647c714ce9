"""Liveness and readiness.

``/readyz`` tells anyone only its ``status``: the migration ids and the database error's class
say which version runs and what fails, which is for the desk's engineer, not for whoever can
reach the port. Sent with an admin key it adds them (any other key: 401/403, as elsewhere).
"""

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from app.auth.actor import Role
from app.auth.dependencies import require
from app.core.db import Database
from app.schema.versions import schema_state
from app.web.dependencies import DatabaseDep
from app.web.openapi import problem_responses

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str = Field(
        description="ok, migrations pending, schema ahead of the code, or unavailable."
    )
    migration: str | None = Field(
        default=None, description="The database's migration id (admin key only)."
    )
    expected_migration: str | None = Field(
        default=None, description="This code's newest migration id (admin key only)."
    )
    database: str | None = Field(
        default=None, description="The error class met reaching the database (admin key only)."
    )


@router.get(
    "/healthz",
    summary="The process is up",
    response_model=Health,
    responses=problem_responses(400),
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _readiness(database: Database) -> tuple[bool, dict[str, str | None]]:
    try:
        with database.read_connection() as conn:
            state = schema_state(conn)
    except Exception as exc:  # any database failure means "not ready", said plainly
        return False, {"status": "unavailable", "database": type(exc).__name__}
    if state.ahead:
        status = "schema ahead of the code"
    else:
        status = "ok" if state.at_head else "migrations pending"
    return state.at_head, {
        "status": status,
        "migration": state.current,
        "expected_migration": state.head,
    }


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head",
    description="503 while the database is unreachable or not at this code's migration. "
    "Without a key only `status` is given; with an admin key, the details too.",
    response_model=Readiness,
    responses={
        **problem_responses(400, 401, 403, 429),
        503: {"model": Readiness, "description": "Unreachable, or not at the code's migration."},
    },
)
async def readyz(request: Request, database: DatabaseDep) -> Response:
    admin = False
    if request.headers.get("authorization") is not None:
        await require(Role.admin)(request)  # a key is checked like on any route
        admin = True
    ready, body = await run_in_threadpool(_readiness, database)
    if not admin:
        body = {"status": body["status"]}
    return JSONResponse(body, status_code=200 if ready else 503)
