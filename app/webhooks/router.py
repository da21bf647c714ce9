"""HTTP for webhook endpoints (admins only): manage them, rotate secrets, read deliveries,
replay. Secrets are answered once (creation, rotation) and never again."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlmodel import Session
from starlette.responses import Response

from app.auth.dependencies import AdminActor
from app.core.base import Page
from app.core.paging import MAX_LIMIT
from app.vocabulary.types import MAX_ID
from app.web.dependencies import DatabaseDep, database_of
from app.web.openapi import BODY, LOCATION, PARAMS, ROLE, ok, responses
from app.web.responses import page_response, resource_response
from app.webhooks import service
from app.webhooks.models import (
    DeliveryPage,
    ReplayQueued,
    ReplayRange,
    SecretRotation,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointPublic,
    WebhookEndpointUpdate,
    WebhookSecretRotated,
)
from app.webhooks.targets import resolve_target

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
EndpointId = Annotated[int, Path(ge=1, le=MAX_ID, description="The endpoint's id.")]
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The delivery's id.")]
NO_STORE = {"Cache-Control": "no-store"}


def _public(endpoint: object) -> WebhookEndpointPublic:
    return WebhookEndpointPublic.model_validate(endpoint)


@router.post(
    "",
    status_code=201,
    response_model=WebhookEndpointCreated,
    summary="Create a webhook endpoint; the response holds its signing secret, shown this once",
    responses=responses(ROLE, BODY, ok=ok(201, Location=LOCATION)),
)
async def create_endpoint(
    request: Request, database: DatabaseDep, actor: AdminActor, body: WebhookEndpointCreate
) -> Response:
    service.parse_events(body.events)
    allow_private = request.app.state.settings.webhook_allow_private_targets
    await resolve_target(str(body.url), allow_private=allow_private)

    def write(session: Session) -> Response:
        endpoint, secret = service.create_endpoint(session, body)
        created = WebhookEndpointCreated(**_public(endpoint).model_dump(), secret=secret)
        headers = {**NO_STORE, "Location": f"/api/v1/webhooks/{endpoint.id}"}
        return resource_response(created, version=None, status_code=201, headers=headers)

    return await database.write(write)


@router.get(
    "",
    response_model=Page[WebhookEndpointPublic],
    summary="List webhook endpoints (no secrets)",
    responses=responses(ROLE),
)
async def list_endpoints(request: Request, actor: AdminActor) -> Response:
    endpoints = await database_of(request).read(service.list_endpoints)
    return page_response(request.url, WebhookEndpointPublic, endpoints, None)


@router.get(
    "/{endpoint_id}",
    response_model=WebhookEndpointPublic,
    summary="One webhook endpoint: its events, and whether and why it is disabled",
    responses=responses(ROLE, 404, PARAMS),
)
async def get_endpoint(request: Request, actor: AdminActor, endpoint_id: EndpointId) -> Response:
    endpoint = await database_of(request).read(lambda conn: service.get_endpoint(conn, endpoint_id))
    return resource_response(_public(endpoint), version=None)


@router.patch(
    "/{endpoint_id}",
    response_model=WebhookEndpointPublic,
    summary="Change a webhook endpoint's URL, events or description; enable or disable it",
    responses=responses(ROLE, BODY, 404),
)
async def update_endpoint(
    request: Request,
    database: DatabaseDep,
    actor: AdminActor,
    endpoint_id: EndpointId,
    body: WebhookEndpointUpdate,
) -> Response:
    if body.events is not None:
        service.parse_events(body.events)
    if body.url is not None:
        allow_private = request.app.state.settings.webhook_allow_private_targets
        await resolve_target(str(body.url), allow_private=allow_private)

    def write(session: Session) -> Response:
        endpoint = service.update_endpoint(session, endpoint_id, body)
        return resource_response(_public(endpoint), version=None)

    return await database.write(write)


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    summary="Delete a webhook endpoint with its deliveries",
    responses=responses(ROLE, 404, PARAMS),
)
async def delete_endpoint(
    database: DatabaseDep, actor: AdminActor, endpoint_id: EndpointId
) -> Response:
    await database.write(lambda session: service.delete_endpoint(session, endpoint_id))
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=WebhookSecretRotated,
    summary="A new signing secret, shown this once; the old one signs too for a grace period",
    responses=responses(ROLE, BODY, 404),
)
async def rotate_secret(
    request: Request,
    database: DatabaseDep,
    actor: AdminActor,
    endpoint_id: EndpointId,
    body: SecretRotation | None = None,
) -> Response:
    seconds = body.grace_seconds if body and body.grace_seconds is not None else None
    if seconds is None:
        seconds = request.app.state.settings.webhook_secret_grace_seconds
    grace = timedelta(seconds=seconds)

    def write(session: Session) -> Response:
        endpoint, secret = service.rotate_secret(session, endpoint_id, grace)
        rotated = WebhookSecretRotated(**_public(endpoint).model_dump(), secret=secret)
        return resource_response(rotated, version=None, headers=NO_STORE)

    return await database.write(write)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=DeliveryPage,
    summary="The endpoint's deliveries, newest first, each with its attempts",
    responses=responses(ROLE, 404, PARAMS),
)
async def list_deliveries(
    request: Request,
    actor: AdminActor,
    endpoint_id: EndpointId,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="next_before of the last page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Response:
    items, next_before = await database_of(request).read(
        lambda conn: service.list_deliveries(conn, endpoint_id, before=before, limit=limit),
        snapshot=True,
    )
    return resource_response(DeliveryPage(items=items, next_before=next_before), version=None)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=ReplayQueued,
    summary="Send one delivery again (same webhook-id), ahead of the endpoint's queue",
    responses=responses(ROLE, 404, PARAMS),
)
async def replay_delivery(
    database: DatabaseDep, actor: AdminActor, endpoint_id: EndpointId, delivery_id: DeliveryId
) -> Response:
    await database.write(lambda session: service.replay_delivery(session, endpoint_id, delivery_id))
    return resource_response(ReplayQueued(queued=1), version=None, status_code=202)


@router.post(
    "/{endpoint_id}/replay",
    status_code=202,
    response_model=ReplayQueued,
    summary="Deliver again every matching revision from a revision id on, in the feed's order",
    responses=responses(ROLE, BODY, 404),
)
async def replay_range(
    database: DatabaseDep, actor: AdminActor, endpoint_id: EndpointId, body: ReplayRange
) -> Response:
    queued = await database.write(
        lambda session: service.replay_from(session, endpoint_id, body.from_revision)
    )
    return resource_response(ReplayQueued(queued=queued), version=None, status_code=202)
