"""Liveness and readiness."""

from functools import cache

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from app.core.db import Database
from app.web.dependencies import DatabaseDep
from app.web.openapi import problem_responses

router = APIRouter(tags=["health"])


@cache
def migration_head() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from app.schema.migrate import alembic_config

    config: Config = alembic_config()
    return ScriptDirectory.from_config(config).get_current_head()


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    migration: str | None = None
    expected_migration: str | None = None
    database: str | None = None


@router.get(
    "/healthz",
    summary="The process is up",
    response_model=Health,
    responses=problem_responses(400),
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _readiness(database: Database) -> tuple[bool, dict[str, str | None]]:
    expected = migration_head()
    try:
        with database.read_connection() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # any database failure means "not ready", said plainly
        return False, {"status": "unavailable", "database": type(exc).__name__}
    ready = current == expected
    return ready, {
        "status": "ok" if ready else "migrations pending",
        "migration": current,
        "expected_migration": expected,
    }


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head",
    response_model=Readiness,
    responses={
        **problem_responses(400),
        503: {"model": Readiness, "description": "Unreachable, or migrations pending."},
    },
)
async def readyz(database: DatabaseDep) -> Response:
    ready, body = await run_in_threadpool(_readiness, database)
    return JSONResponse(body, status_code=200 if ready else 503)
