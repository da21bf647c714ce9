"""``expand``: a claim read with its speaker and outlet (and, by id, its evidence and
appearances) embedded next to the ``*_id`` fields, Stripe-style.

Each embedded object is what its own read answers: ``speaker`` as GET /speakers/{id},
``outlet`` as GET /outlets/{id}, ``evidence`` and ``appearances`` as the items of GET
/claims/{id}/evidence and /appearances. The rows go straight to JSON as the claim's do
(``RowJson``). A page costs one statement per expanded kind, whatever its length: the distinct
ids of the page in one ``IN``. A soft-deleted speaker or outlet is still the claim's: it is
embedded as it is, its ``deleted_at`` set (its own GET answers 410).

The page and its references are separate statements (no shared snapshot, like the list's own
reads): a reference is read as it is a moment after the page, never missing (speakers and
outlets are only ever soft-deleted).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from app.claims.models import (
    Appearance,
    AppearancePublic,
    ClaimPublic,
    Evidence,
    EvidencePublic,
)
from app.core.rowjson import RowJson
from app.outlets.models import Outlet, OutletPublic
from app.speakers.models import Speaker, SpeakerPublic

if TYPE_CHECKING:
    from app.core.db import Database

SPEAKER_ROWS = RowJson(Speaker.__table__, SpeakerPublic.model_fields)  # type: ignore[attr-defined]
OUTLET_ROWS = RowJson(Outlet.__table__, OutletPublic.model_fields)  # type: ignore[attr-defined]
EVIDENCE_ROWS = RowJson(Evidence.__table__, EvidencePublic.model_fields)  # type: ignore[attr-defined]
APPEARANCE_ROWS = RowJson(Appearance.__table__, AppearancePublic.model_fields)  # type: ignore[attr-defined]

# Each reference kind: the claim's column that names it, and its rows.
REFERENCES = {"speaker": ("speaker_id", SPEAKER_ROWS), "outlet": ("outlet_id", OUTLET_ROWS)}
# Each part kind: its rows, read by claim_id.
PARTS = {"evidence": EVIDENCE_ROWS, "appearances": APPEARANCE_ROWS}


async def expand_claims(
    database: "Database", claims: Sequence[dict[str, Any]], kinds: frozenset[str]
) -> None:
    """Put each claim's ``speaker`` and ``outlet`` (those of ``kinds``; null when the claim
    names none) next to its ids, in place: one statement per kind for all of ``claims``."""
    for kind, (column, rows) in REFERENCES.items():
        if kind not in kinds:
            continue
        ids = sorted({claim[column] for claim in claims if claim[column] is not None})
        found = {row["id"]: row for row in await rows.fetch_in(database, "id", ids)} if ids else {}
        for claim in claims:
            claim[kind] = found.get(claim[column])


async def expand_claim(database: "Database", claim: dict[str, Any], kinds: frozenset[str]) -> None:
    """``expand_claims`` for one claim, and its ``evidence`` and ``appearances`` (oldest
    first) when ``kinds`` names them: one statement per kind."""
    await expand_claims(database, [claim], kinds)
    for kind, rows in PARTS.items():
        if kind in kinds:
            claim[kind] = await rows.fetch_in(database, "claim_id", [claim["id"]])


# --- the expanded shapes, for the OpenAPI document (the answers are built from rows) ----------

_ONLY_WITH = "Present only with expand={}"


class ClaimExpanded(ClaimPublic):
    """A claim of the list; with ``expand``, its speaker and outlet next to their ids."""

    speaker: SpeakerPublic | None = Field(
        default=None,
        description=f"{_ONLY_WITH.format('speaker')}: the speaker as GET /speakers/{{id}} "
        "answers it (deleted_at set if it was deleted); null when the claim names no speaker.",
    )
    outlet: OutletPublic | None = Field(
        default=None,
        description=f"{_ONLY_WITH.format('outlet')}: the outlet as GET /outlets/{{id}} answers "
        "it (deleted_at set if it was deleted); null when the claim names no outlet.",
    )


class ClaimDetail(ClaimExpanded):
    """A claim by id; with ``expand``, its references, evidence and appearances."""

    evidence: list[EvidencePublic] = Field(
        default_factory=list,
        description=f"{_ONLY_WITH.format('evidence')}: the items of GET "
        "/claims/{id}/evidence, oldest first.",
    )
    appearances: list[AppearancePublic] = Field(
        default_factory=list,
        description=f"{_ONLY_WITH.format('appearances')}: the items of GET "
        "/claims/{id}/appearances, oldest first.",
    )
