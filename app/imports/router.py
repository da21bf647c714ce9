"""POST /imports: a batch of claim records (JSON array or NDJSON), upserted by external_id."""

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.auth.dependencies import CheckerActor
from app.imports import bodies
from app.imports.duplicates import DuplicatePolicy
from app.matching.router import thresholds
from app.vocabulary.enums import ImportFormat, OnDuplicate, OnError
from app.vocabulary.records import ImportSummary
from app.web.dependencies import database_of
from app.web.openapi import BODY, ROLE, header, ok, responses
from app.web.responses import JSON_MEDIA_TYPE

router = APIRouter(tags=["imports"])


@router.post(
    "/imports",
    response_model=ImportSummary,
    summary="Import a batch of claims (JSON array or NDJSON); upsert by external_id",
    responses=responses(
        ROLE,
        BODY,
        409,
        ok=ok(**{"Idempotent-Replayed": header("true when this answers a retried batch.")}),
    ),
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
            "required": True,
        }
    },
)
async def import_claims(
    request: Request,
    actor: CheckerActor,
    dry_run: Annotated[bool, Query(description="Report what would happen; write nothing.")] = False,
    on_error: Annotated[
        OnError, Query(description="stop: refuse the whole batch if a record fails; skip.")
    ] = OnError.stop,
    on_duplicate: Annotated[
        OnDuplicate,
        Query(
            description="A new record that likely repeats a stored claim: create it and store "
            "the pairs as suggestions; link it (confirmed duplicate); or skip it."
        ),
    ] = OnDuplicate.create,
    format: Annotated[
        ImportFormat, Query(description="records (ours) or claimreview (schema.org JSON-LD).")
    ] = ImportFormat.records,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, description="Makes a retried batch safe (24 h).")
    ] = None,
) -> Response:
    body = await request.body()
    # Only reading the body happens on the event loop; parsing, mapping and the database
    # work are one hop to a worker thread (bodies.import_body).
    answer = await run_in_threadpool(
        bodies.import_body,
        database_of(request),
        body,
        content_type=request.headers.get("content-type", "application/json"),
        format=format,
        max_records=request.app.state.settings.import_max_records,
        actor=actor,
        dry_run=dry_run,
        on_error=on_error,
        idempotency_key=idempotency_key,
        policy=DuplicatePolicy(on_duplicate, thresholds(request.app.state.settings)),
    )
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return Response(answer.body, status_code=200, media_type=JSON_MEDIA_TYPE, headers=headers)
