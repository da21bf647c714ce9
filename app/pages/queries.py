"""What the public fact-check pages read: the published fact-checks (keyset pages, newest
verdict first), one fact-check with everything its page shows, and its public change log.

Public means "settled with a verdict" (``app.claims.settlement.has_settled_verdict``); any other
claim is not found here, and a deleted one is gone. No web framework: the router renders.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from app.claims import queries as claims_queries
from app.claims.expand import OUTLET_ROWS, SPEAKER_ROWS, expand_claim, expand_claims
from app.claims.models import Claim, ClaimQuery
from app.claims.settlement import as_settled, has_settled_verdict
from app.core import errors
from app.core.pages import KeysetList
from app.core.paging import sort_keys
from app.core.rowjson import RowJson
from app.exports import claimreview
from app.sources.models import Source, SourcePublic
from app.vocabulary.enums import ClaimStatus, ReviewState
from app.vocabulary.types import DbId

if TYPE_CHECKING:
    from app.core.db import Database

claim_table = Claim.__table__  # type: ignore[attr-defined]
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
#
# A fact-check page is read as the API's GET by id is: precompiled driver SQL, each statement
# its own moment (no shared snapshot, like ``expand``'s reads): the claim, its references and
# parts (``expand_claim``), the sources they name, and its verdict revisions. At worst a write
# landing between two of them shows a change log a moment newer than the claim above it.


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One change of status or verdict, as the public sees it: never who made it."""

    version: int
    recorded_at: datetime
    status_from: str | None
    status_to: str  # the same as status_from when only the rationale changed
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


SOURCE_ROWS = RowJson(Source.__table__, SourcePublic.model_fields)  # type: ignore[attr-defined]
# A claim's revisions that changed its review, status or verdict, oldest first: the settling
# revisions (app.claims.settlement) are among them, so their snapshots come along.
_VERDICT_REVISIONS = {
    "sqlite": (
        "SELECT id, version, recorded_at, reason, "
        "json_extract(changes, '$.status') IS NOT NULL AS status_changed, "
        "json_extract(changes, '$.status.from') AS status_from, "
        "json_extract(changes, '$.verdict') IS NOT NULL AS verdict_changed, "
        "json_extract(snapshot, '$.status') AS status, "
        "json_extract(snapshot, '$.review') AS review, snapshot "
        "FROM revision WHERE entity_type = 'claim' AND entity_id = ? "
        "AND (json_extract(changes, '$.status') IS NOT NULL "
        "OR json_extract(changes, '$.verdict') IS NOT NULL "
        "OR json_extract(changes, '$.review') IS NOT NULL) ORDER BY version"
    ),
    "postgresql": (
        "SELECT id, version, recorded_at, reason, "
        "changes ? 'status' AS status_changed, "
        "changes -> 'status' ->> 'from' AS status_from, "
        "changes ? 'verdict' AS verdict_changed, "
        "snapshot ->> 'status' AS status, snapshot ->> 'review' AS review, "
        "CAST(snapshot AS TEXT) AS snapshot "
        "FROM revision WHERE entity_type = 'claim' AND entity_id = %(claim_id)s "
        "AND (changes ? 'status' OR changes ? 'verdict' OR changes ? 'review') ORDER BY version"
    ),
}
# The speaker as it stood at a point of the feed (``settlement.speakers_as_of`` for one).
_SPEAKER_AS_OF = {
    "sqlite": (
        "SELECT snapshot FROM revision WHERE entity_type = 'speaker' AND entity_id = ? "
        "AND id <= ? ORDER BY id DESC LIMIT 1"
    ),
    "postgresql": (
        "SELECT CAST(snapshot AS TEXT) AS snapshot FROM revision WHERE entity_type = 'speaker' "
        "AND entity_id = %(speaker_id)s AND id <= %(revision_id)s ORDER BY id DESC LIMIT 1"
    ),
}


def _params(database: "Database", **values: Any) -> Any:
    return tuple(values.values()) if database.engine.dialect.positional else values


async def fact_check(
    database: "Database", claim_id: int, *, organization: dict[str, str], page_url: str
) -> FactCheck:
    """Everything one fact-check's page shows. Not found unless settled with a verdict; gone
    when deleted."""
    claim = await claims_queries.ROWS.fetch_by_id(database, claim_id)
    if claim is None:
        raise errors.NotFound(f"No fact-check {claim_id}.")
    if claim["deleted_at"] is not None:
        raise errors.Gone(f"Fact-check {claim_id} was withdrawn.")
    state = _State(ClaimStatus(claim["status"]), ReviewState(claim["review"]))
    if not has_settled_verdict(state):
        raise errors.NotFound(f"Claim {claim_id} has no published verdict.")
    dialect = database.engine.dialect.name
    revisions = await database.fetch_all(
        _VERDICT_REVISIONS[dialect], _params(database, claim_id=claim_id)
    )
    settling = _settling(revisions)
    if settling is None:  # settled before any revision said so: nothing rated to show
        raise errors.NotFound(f"Claim {claim_id} has no published verdict.")
    claim["topics"] = orjson.loads(claim["topics"])
    await expand_claim(database, claim, _EVERYTHING)
    source_ids = {item["source_id"] for item in claim["appearances"]}
    source_ids |= {item["source_id"] for item in claim["evidence"] if item["source_id"]}
    sources = await _by_id(database, SOURCE_ROWS, source_ids)
    outlets = {claim["outlet"]["id"]: claim["outlet"]} if claim["outlet"] else {}
    missing = {s["outlet_id"] for s in sources.values() if s["outlet_id"]} - set(outlets)
    outlets |= await _by_id(database, OUTLET_ROWS, missing)
    settled = as_settled(claim, _snapshot(settling["snapshot"]))
    speaker_then = None
    if settled.get("speaker_id"):
        found = await database.fetch_one(
            _SPEAKER_AS_OF[dialect],
            _params(database, speaker_id=settled["speaker_id"], revision_id=settling["id"]),
        )
        speaker_then = _snapshot(found["snapshot"]) if found else None
    evidence = []
    for item in claim["evidence"]:
        source = sources.get(item["source_id"]) if item["source_id"] else None
        url = item["url"] or (source["url"] if source else None)
        evidence.append({**item, "url": url, "source": source})
    appearances = []
    for item in claim["appearances"]:
        source = sources[item["source_id"]]
        appearances.append({**item, "source": source, "outlet": outlets.get(source["outlet_id"])})
    review = claimreview.claim_review(
        settled,
        speaker=speaker_then,
        appearances=[
            {"url": a["source"]["url"], "title": a["source"]["title"], "role": a["role"]}
            for a in appearances
        ],
        organization=organization,
        url=page_url,
    )
    assert review is not None  # a settled verdict is never unverified
    log = _log_entries(revisions)
    return FactCheck(
        claim=claim,
        speaker=claim["speaker"],
        outlet=claim["outlet"],
        evidence=evidence,
        appearances=appearances,
        change_log=log,
        claim_review=review,
        corrections=[entry for entry in log if entry.correction],
    )


_EVERYTHING = frozenset({"speaker", "outlet", "evidence", "appearances"})


async def _by_id(database: "Database", rows: RowJson, ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    return {row["id"]: row for row in await rows.fetch_in(database, "id", sorted(ids))}


def _snapshot(value: Any) -> dict[str, Any]:
    loaded = orjson.loads(value) if isinstance(value, str | bytes) else value
    return dict(loaded)


def _settling(revisions: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest revision that left the claim settled with a verdict (the one the ClaimReview
    rates, as ``settlement.settled_snapshots`` picks it)."""
    settling = None
    for revision in revisions:
        if _published_by(revision):
            settling = revision
    return settling


def _published_by(revision: dict[str, Any]) -> bool:
    return bool(
        revision["review"] == ReviewState.settled.value
        and revision["status"] != ClaimStatus.unverified.value
    )


@dataclass(frozen=True, slots=True)
class _State:
    status: ClaimStatus
    review: ReviewState


def _utc(value: Any) -> datetime:
    """A revision's timestamp as the driver hands it (SQLite: UTC text) as an aware datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _log_entries(revisions: Sequence[dict[str, Any]]) -> list[LogEntry]:
    """Every change of the claim's status or verdict, newest first, with its date and reason
    (the revision's actor is never read). A change after the first revision that published a
    verdict (settled, status other than unverified) is a correction."""
    entries: list[LogEntry] = []
    published = False
    for row in revisions:
        status_from = row["status_from"] if row["status_changed"] else row["status"]
        changed = bool(row["status_changed"]) or bool(row["verdict_changed"])
        withdrawn_or_rated = row["status"] != ClaimStatus.unverified.value or status_from not in (
            None,
            ClaimStatus.unverified.value,
        )
        if changed and withdrawn_or_rated:
            entries.append(
                LogEntry(
                    version=row["version"],
                    recorded_at=_utc(row["recorded_at"]),
                    status_from=status_from,
                    status_to=row["status"],
                    reason=row["reason"],
                    correction=published,
                )
            )
        published = published or _published_by(row)
    entries.reverse()
    return entries
