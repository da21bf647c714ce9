"""GET /metrics: the Prometheus text format, for an admin key, for anyone, or not at all
(CLAIMS_METRICS=admin, public, off)."""

from anyio import to_thread
from fastapi import APIRouter, Depends
from starlette.responses import Response

from app.auth.actor import Role
from app.auth.dependencies import require
from app.core.metrics import CONTENT_TYPE, scrape
from app.web.openapi import ANY, ROLE, problem_responses


def metrics_router(mode: str) -> APIRouter | None:
    """The route for CLAIMS_METRICS=``mode``; None for ``off`` (the path answers 404)."""
    if mode == "off":
        return None
    router = APIRouter(tags=["operations"])
    admin_only = mode == "admin"

    @router.get(
        "/metrics",
        summary="Metrics in the Prometheus text format",
        description="Request counts and latencies by route template, method and status; "
        "database time per request; revisions written; import rows by outcome "
        "(docs/operations.md#metrics). CLAIMS_METRICS=admin (the default) needs an admin key.",
        response_class=Response,
        dependencies=[Depends(require(Role.admin))] if admin_only else [],
        responses={
            200: {
                "description": "The metrics.",
                "content": {CONTENT_TYPE: {"schema": {"type": "string"}}},
            },
            **problem_responses(ANY, *([ROLE] if admin_only else [])),
        },
    )
    async def metrics() -> Response:
        # In multi-process mode a scrape reads every worker's files.
        body = await to_thread.run_sync(scrape)
        return Response(body, media_type=CONTENT_TYPE)

    return router
