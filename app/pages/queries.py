"""What the public fact-check pages read: the published fact-checks (keyset pages, newest
verdict first), one fact-check with everything its page shows, and its public change log.

Public means "settled with a verdict" (``app.claims.settlement.has_settled_verdict``); any other
claim is not found here, and a deleted one is gone. No web framework: the router renders.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from app.claims import queries as claims_queries
from app.claims.expand import OUTLET_ROWS, SPEAKER_ROWS, expand_claims
from app.claims.models import Claim, ClaimQuery
from app.claims.settlement import has_settled_verdict
from app.core import errors
from app.core.pages import KeysetList
from app.core.paging import sort_keys
from app.exports import service as exports_service
from app.history.models import EntityType, Revision
from app.vocabulary.enums import ClaimStatus, ReviewState
from app.vocabulary.types import DbId

if TYPE_CHECKING:
    from app.core.db import Database

claim_table = Claim.__table__  # type: ignore[attr-defined]
revision_table = Revision.__table__  # type: ignore[attr-defined]
NEWEST_VERDICT_FIRST = "-reviewed_at"
_c = claim_table.c


def _published(_dialect: str) -> Any:
    """Settled with a verdict, in SQL (``has_settled_verdict``)."""
    return sa.and_(
        _c.review == ReviewState.settled.value, _c.status != ClaimStatus.unverified.value
    )


PUBLISHED = "published"
FACT_CHECKS = KeysetList(
    claims_queries.ROWS,
    sort_keys(_c.id, {"reviewed_at": _c.reviewed_at}),
    {**claims_queries.CLAIMS.conditions, PUBLISHED: _published},
)


class IndexQuery(BaseModel):
    """The index's filters (they combine) and its cursor."""

    model_config = ConfigDict(extra="ignore")

    status: ClaimStatus | None = None
    speaker_id: DbId | None = None
    outlet_id: DbId | None = None
    topic: str | None = Field(default=None, max_length=64)
    q: str | None = Field(default=None, max_length=500)
    cursor: str | None = Field(default=None, max_length=512)


class FeedQuery(BaseModel):
    """The Atom feed's filters."""

    model_config = ConfigDict(extra="ignore")

    speaker_id: DbId | None = None
    topic: str | None = Field(default=None, max_length=64)
    status: ClaimStatus | None = None


@dataclass(slots=True)
class IndexPage:
    claims: list[dict[str, Any]]
    next_cursor: str | None
    speaker: dict[str, Any] | None = None  # the speaker filtered on, for its name
    outlet: dict[str, Any] | None = None


async def list_fact_checks(
    database: "Database", query: IndexQuery | FeedQuery, *, limit: int
) -> IndexPage:
    """A page of published fact-checks, newest verdict first, each with its ``speaker`` and
    ``outlet`` (``expand``): two or three statements whatever the page's length."""
    words = "" if isinstance(query, FeedQuery) else (query.q or "")
    # A search without a word (only quotes or punctuation) searches nothing, on both backends.
    claim_query = ClaimQuery(
        status=query.status,
        speaker_id=query.speaker_id,
        outlet_id=getattr(query, "outlet_id", None),
        topic=query.topic or None,
        q=words if claims_queries.fts5_query(words) else None,
    )
    filters = {
        **claims_queries.filters_of(database.engine.dialect.name, claim_query),
        PUBLISHED: True,
    }
    cursor = getattr(query, "cursor", None) or None
    rows, next_cursor = await FACT_CHECKS.page(
        database, filters, NEWEST_VERDICT_FIRST, cursor, limit
    )
    claims = [dict(zip(claims_queries.ROWS.keys, row, strict=True)) for row in rows]
    for claim in claims:
        claim["topics"] = orjson.loads(claim["topics"])
    await expand_claims(database, claims, frozenset({"speaker", "outlet"}))
    page = IndexPage(claims, next_cursor)
    if isinstance(query, IndexQuery):
        page.speaker = await _named(database, SPEAKER_ROWS, query.speaker_id)
        page.outlet = await _named(database, OUTLET_ROWS, query.outlet_id)
    return page


async def _named(database: "Database", rows: Any, entity_id: int | None) -> dict[str, Any] | None:
    if entity_id is None:
        return None
    found: list[dict[str, Any]] = await rows.fetch_in(database, "id", [entity_id])
    return found[0] if found else None


# --- one fact-check --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One change of status or verdict, as the public sees it: never who made it."""

    version: int
    recorded_at: datetime
    status_from: str | None
    status_to: str
    verdict_changed: bool
    reason: str | None
    correction: bool  # after the verdict was first published


@dataclass(slots=True)
class FactCheck:
    claim: dict[str, Any]
    speaker: dict[str, Any] | None
    outlet: dict[str, Any] | None
    evidence: list[dict[str, Any]]
    appearances: list[dict[str, Any]]
    change_log: list[LogEntry]
    claim_review: dict[str, Any]
    corrections: list[LogEntry] = field(default_factory=list)

    @property
    def first_published(self) -> datetime | None:
        published = [entry for entry in self.change_log if not entry.correction]
        return published[-1].recorded_at if published else None


def fact_check(
    conn: Connection, claim_id: int, *, organization: dict[str, str], page_url: str
) -> FactCheck:
    """Everything one fact-check's page shows. Its reads must see one moment: run it on a
    snapshot connection. Not found unless settled with a verdict; gone when deleted."""
    row = claims_queries.ROWS.by_id(conn, claim_id)
    if row is None:
        raise errors.NotFound(f"No fact-check {claim_id}.")
    if row.deleted_at is not None:
        raise errors.Gone(f"Fact-check {claim_id} was withdrawn.")
    claim = dict(row._mapping)
    claim["topics"] = orjson.loads(claim["topics"])
    claim["status"], claim["review"] = ClaimStatus(claim["status"]), ReviewState(claim["review"])
    if not has_settled_verdict(_State(claim["status"], claim["review"])):
        raise errors.NotFound(f"Claim {claim_id} has no published verdict.")
    related = exports_service.page_related(conn, [claim])
    related["settled"] = exports_service.settled_claims(conn, [claim], related)
    review = exports_service.claim_review_of(claim, related, organization, page_url)
    if review is None:  # settled before any revision said so: nothing rated to show
        raise errors.NotFound(f"Claim {claim_id} has no published verdict.")
    review["url"] = page_url
    sources = related["sources"]
    outlets = related["outlets"]
    evidence = []
    for item in related["evidence"].get(claim_id, []):
        source = sources.get(item["source_id"]) if item["source_id"] else None
        url = item["url"] or (source["url"] if source else None)
        evidence.append({**item, "url": url, "source": source})
    appearances = []
    for item in related["appearances"].get(claim_id, []):
        source = sources[item["source_id"]]
        appearances.append({**item, "source": source, "outlet": outlets.get(source["outlet_id"])})
    log = change_log(conn, claim_id)
    return FactCheck(
        claim=claim,
        speaker=related["speakers"].get(claim["speaker_id"]),
        outlet=outlets.get(claim["outlet_id"]),
        evidence=evidence,
        appearances=appearances,
        change_log=log,
        claim_review=review,
        corrections=[entry for entry in log if entry.correction],
    )


@dataclass(frozen=True, slots=True)
class _State:
    status: ClaimStatus
    review: ReviewState


def change_log(conn: Connection, claim_id: int) -> list[LogEntry]:
    """Every change of the claim's status or verdict, newest first, with its date and reason
    (the revision's actor is not read). A change after the first revision that published a
    verdict (settled, status other than unverified) is a correction."""
    r = revision_table.c
    statement = (
        sa.select(
            r.version,
            r.recorded_at,
            r.reason,
            r.changes["status"].as_string().is_not(None).label("status_changed"),
            r.changes[("status", "from")].as_string().label("status_from"),
            r.changes["verdict"].as_string().is_not(None).label("verdict_changed"),
            r.snapshot["status"].as_string().label("status"),
            r.snapshot["review"].as_string().label("review"),
        )
        .where(
            r.entity_type == EntityType.claim,
            r.entity_id == claim_id,
            sa.or_(
                r.changes["status"].as_string().is_not(None),
                r.changes["verdict"].as_string().is_not(None),
                r.changes["review"].as_string().is_not(None),
            ),
        )
        .order_by(r.version)
    )
    return _log_entries(conn.execute(statement).all())


def _log_entries(rows: Sequence[Any]) -> list[LogEntry]:
    entries: list[LogEntry] = []
    published = False
    for row in rows:
        status_from = row.status_from if row.status_changed else row.status
        changed = bool(row.status_changed) or bool(row.verdict_changed)
        withdrawn_or_rated = row.status != ClaimStatus.unverified.value or status_from not in (
            None,
            ClaimStatus.unverified.value,
        )
        if changed and withdrawn_or_rated:
            entries.append(
                LogEntry(
                    version=row.version,
                    recorded_at=row.recorded_at,
                    status_from=status_from,
                    status_to=row.status,
                    verdict_changed=bool(row.verdict_changed),
                    reason=row.reason,
                    correction=published,
                )
            )
        if row.review == ReviewState.settled.value and row.status != "unverified":
            published = True
    entries.reverse()
    return entries
