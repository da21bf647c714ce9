"""The claim tracker's client side: the typed HTTP clients and ``claimtracker import``'s file
readers. It talks HTTP only and imports nothing of the server (no tables, no FastAPI, no
SQLAlchemy): only ``app.vocabulary``, the wire's types, which the server shares.

    with ClaimTrackerClient("http://127.0.0.1:8000", token="ct_...") as api:
        claim = api.get_claim(7)                    # remembers the ETag it read
        api.update_claim(7, {"place": "Moscow"})    # sends it as If-Match
        for claim in api.iter_claims(status="false"):
            ...

    async with AsyncClaimTrackerClient("http://127.0.0.1:8000", token="ct_...") as api:
        claim = await api.get_claim(7)
        async for claim in api.iter_claims(status="false"):
            ...

Retries connection errors, 429 (honouring ``Retry-After``) and 5xx with exponential backoff
and jitter (``app.client.retries``). Writes that are not idempotent by themselves (POST) are
retried only when they carry an ``Idempotency-Key`` (imports always do) or failed before
reaching the server. problem+json answers become ``ProblemError`` subclasses.

- ``http``: the two clients, thin I/O over ``core`` (calls, answers, ETags, paging).
- ``errors``: ``ClientError`` and the ``ProblemError`` subclasses.
- ``importer``, ``files``, ``csv_mapping``: ``claimtracker import``, reading NDJSON, CSV
  through a column mapping and ClaimReview JSON-LD (``app.vocabulary.claimreview``, which the
  server's import uses too) into import records.
"""

from app.client.errors import (
    BadRequest,
    ClientError,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    PreconditionRequired,
    ProblemError,
    ServerError,
    TooManyRequests,
    Unauthorized,
    ValidationProblem,
    problem_from,
)
from app.client.http import AsyncClaimTrackerClient, ClaimTrackerClient

__all__ = [
    "AsyncClaimTrackerClient",
    "BadRequest",
    "ClaimTrackerClient",
    "ClientError",
    "Conflict",
    "Forbidden",
    "Gone",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "PreconditionRequired",
    "ProblemError",
    "ServerError",
    "TooManyRequests",
    "Unauthorized",
    "ValidationProblem",
    "problem_from",
]
