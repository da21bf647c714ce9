"""The transparency log over HTTP: the signed checkpoint, its verifier key, inclusion and
consistency proofs (RFC 9162; C2SP tlog-checkpoint and signed-note). Each route first appends
what the change feed shows beyond the log, so a committed revision always has its proof."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import Connection
from starlette.responses import Response

from app.auth.dependencies import READER
from app.tlog import service
from app.tlog.appender import catch_up
from app.tlog.models import ConsistencyProof, InclusionProof
from app.tlog.signing import current_checkpoint, signing_key
from app.vocabulary.types import MAX_ID, MAX_REVISION_ID
from app.web.dependencies import database_of
from app.web.openapi import KEYED, PARAMS, header, responses
from app.web.responses import resource_response

router = APIRouter(tags=["transparency log"])

TEXT = "text/plain; charset=utf-8"
TreeSize = Annotated[int, Query(ge=1, le=MAX_ID, description="A tree size the log has reached.")]


def _text(description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}
    }


@router.get(
    "/history/checkpoint",
    summary="The log's current checkpoint: C2SP tlog-checkpoint, signed as a C2SP signed-note "
    "with Ed25519",
    response_class=Response,
    responses=responses(
        KEYED, ok=_text("origin, tree size, base64 root hash, blank line, signature")
    ),
    dependencies=[READER],
)
async def checkpoint(request: Request) -> Response:
    database = database_of(request)
    settings = request.app.state.settings
    signing_key(settings)  # 503 before any work when the server cannot sign
    await catch_up(database)
    current = await database.read(lambda conn: current_checkpoint(conn, settings), snapshot=True)
    return Response(current.signed_note, media_type=TEXT)


@router.get(
    "/history/checkpoint/key",
    summary="The note verifier key that checks the checkpoints: "
    "<name>+<hex key hash>+<base64(0x01 ‖ Ed25519 public key)>",
    response_class=Response,
    responses=responses(KEYED, ok=_text("The verifier key, one line")),
    dependencies=[READER],
)
async def checkpoint_key(request: Request) -> Response:
    key = signing_key(request.app.state.settings)
    return Response(f"{key.verifier}\n", media_type=TEXT)


@router.get(
    "/history/proof",
    response_model=InclusionProof,
    summary="An RFC 9162 inclusion proof: the revision is leaf leaf_index of the tree of "
    "tree_size leaves",
    responses=responses(KEYED, 404, PARAMS),
    dependencies=[READER],
)
async def proof(
    request: Request,
    revision_id: Annotated[int, Query(ge=1, le=MAX_REVISION_ID)],
    tree_size: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Default: the current tree.")
    ] = None,
) -> Response:
    database = database_of(request)
    found = await database.read(lambda conn: service.leaf_of(conn, revision_id))
    if found is None:
        await catch_up(database)
    answer = await database.read(lambda conn: service.inclusion_proof(conn, revision_id, tree_size))
    return resource_response(answer, version=None)


@router.get(
    "/history/consistency",
    response_model=ConsistencyProof,
    summary="An RFC 9162 consistency proof: the tree of second leaves extends the tree of first",
    responses=responses(KEYED, 404, PARAMS),
    dependencies=[READER],
)
async def consistency(
    request: Request,
    first: TreeSize,
    second: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Default: the current tree.")
    ] = None,
) -> Response:
    database = database_of(request)
    await catch_up(database)
    answer = await database.read(lambda conn: service.consistency_proof(conn, first, second))
    return resource_response(answer, version=None)


LEAF_INDEX_HEADER = "Tlog-Leaf-Index"
REVISION_ID_HEADER = "Tlog-Revision-Id"
LEAF_HEADERS = {
    LEAF_INDEX_HEADER: header(
        "With leaf_index=true: the leaf index of the revision that made this version, for "
        "GET /history/proof."
    ),
    REVISION_ID_HEADER: header("With leaf_index=true: that revision's id."),
}


async def add_leaf_headers(
    request: Request, response: Response, entity_type: str, entity_id: int
) -> Response:
    """Name, in headers, the revision behind the response's version (its ETag) and its leaf
    index, appending to the log first if it does not hold it yet."""
    etag = response.headers.get("ETag", "")
    if not etag.startswith('"v'):
        return response
    version = int(etag.strip('"v'))
    database = database_of(request)

    def find(conn: Connection) -> tuple[int, int | None] | None:
        return service.leaf_of_version(conn, entity_type, entity_id, version)

    found = await database.read(find)
    if found is not None and found[1] is None:
        await catch_up(database)
        found = await database.read(find)
    if found is not None and found[1] is not None:
        response.headers[REVISION_ID_HEADER] = str(found[0])
        response.headers[LEAF_INDEX_HEADER] = str(found[1])
    return response


LeafIndexQuery = Annotated[
    bool,
    Query(
        description="Also name, in the Tlog-Revision-Id and Tlog-Leaf-Index headers, the "
        "revision behind this version and its leaf in the transparency log (for "
        "/history/proof). Not with as_of (422)."
    ),
]
