"""GET /exports (streamed) and GET /claims/{id}/claimreview."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from app.auth.dependencies import READER
from app.exports import service
from app.web.dependencies import EntityId, database_of
from app.web.openapi import ENTITY, KEYED, PARAMS, responses

router = APIRouter(tags=["exports"])


def _organization(request: Request) -> dict[str, str]:
    settings = request.app.state.settings
    return {"name": settings.organization_name, "url": settings.organization_url}


def _base_url(request: Request) -> str:
    """Where the API is served, from configuration only: the Host header is the client's to
    choose, and a URL built from it would carry that choice into published ClaimReviews."""
    settings = request.app.state.settings
    base: str = settings.public_base_url or settings.organization_url
    return base.rstrip("/")


@router.get(
    "/exports",
    summary="Export claims (ndjson, csv or a ClaimReview DataFeed), streamed",
    responses=responses(KEYED, PARAMS),
    dependencies=[READER],
    response_class=StreamingResponse,
)
def export_claims(request: Request, query: Annotated[service.ExportQuery, Query()]) -> Response:
    service.check_query(query)
    database_of(request).check_reachable()  # fails as 503 now, not after the stream's 200
    extension = {"ndjson": "ndjson", "csv": "csv", "claimreview": "jsonld"}[query.format]
    return StreamingResponse(
        service.stream_export(
            database_of(request),
            query,
            organization=_organization(request),
            base_url=_base_url(request),
        ),
        media_type=service.MEDIA_TYPES[query.format],
        headers={"Content-Disposition": f'attachment; filename="claims.{extension}"'},
    )


@router.get(
    "/claims/{entity_id}/claimreview",
    summary="The claim as a schema.org ClaimReview (JSON-LD); 404 while unverified",
    responses=responses(KEYED, ENTITY, PARAMS),
    dependencies=[READER],
)
async def claim_review(request: Request, entity_id: EntityId) -> Response:
    organization, base_url = _organization(request), _base_url(request)
    # A snapshot read: several statements that must agree, and JSON-LD built off the loop.
    review = await database_of(request).read(
        lambda conn: service.claim_review_for(
            conn, entity_id, organization=organization, base_url=base_url
        ),
        snapshot=True,
    )
    return Response(review, media_type="application/ld+json")
