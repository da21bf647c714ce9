"""HTTP for API keys (admins only): create (the secret once), list (never secrets), revoke."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlmodel import Session
from starlette.responses import Response

from app.auth import service
from app.auth.dependencies import AdminActor
from app.auth.models import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from app.core.base import Page
from app.vocabulary.types import MAX_ID
from app.web.dependencies import DatabaseDep, database_of
from app.web.openapi import BODY, LOCATION, PARAMS, ROLE, ok, responses
from app.web.responses import page_response, resource_response

router = APIRouter(prefix="/keys", tags=["keys"])
KeyId = Annotated[int, Path(ge=1, le=MAX_ID, description="The key's id.")]
NO_STORE = {"Cache-Control": "no-store"}


@router.post(
    "",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Create an API key; the response holds its secret, shown this once",
    responses=responses(ROLE, BODY, 409, ok=ok(201, Location=LOCATION)),
)
async def create_key(database: DatabaseDep, actor: AdminActor, body: ApiKeyCreate) -> Response:
    def write(session: Session) -> Response:
        key, secret = service.create_key(session, body.name, body.role)
        created = ApiKeyCreated(**ApiKeyPublic.model_validate(key).model_dump(), secret=secret)
        headers = {**NO_STORE, "Location": f"/api/v1/keys/{key.id}"}
        return resource_response(created, version=None, status_code=201, headers=headers)

    return await database.write(write)


@router.get(
    "",
    response_model=Page[ApiKeyPublic],
    summary="List API keys (no secrets)",
    responses=responses(ROLE, PARAMS),
)
async def list_keys(
    request: Request,
    actor: AdminActor,
    include_revoked: Annotated[bool, Query(description="Also list revoked keys.")] = True,
) -> Response:
    keys = await database_of(request).read(
        lambda conn: service.list_keys(conn, include_revoked=include_revoked)
    )
    items = [ApiKeyPublic.model_validate(key) for key in keys]
    return page_response(request.url, ApiKeyPublic, items, None)


@router.delete(
    "/{key_id}",
    response_model=ApiKeyPublic,
    summary="Revoke an API key (at once, for good)",
    responses=responses(ROLE, 404, 409, PARAMS),
)
async def revoke_key(database: DatabaseDep, actor: AdminActor, key_id: KeyId) -> Response:
    def write(session: Session) -> Response:
        key = service.revoke_key(session, key_id)
        return resource_response(ApiKeyPublic.model_validate(key), version=None)

    return await database.write(write)
