"""Exports stream in constant memory: keyset pages of claims (the collection's filters), each
page's speakers, outlets, evidence and appearances read in bulk, written row by row."""

import csv
import io
from collections.abc import Iterator
from enum import StrEnum
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from pydantic import Field
from sqlalchemy import Connection

from app.claims import queries as claims_queries
from app.claims import settlement
from app.claims.models import Appearance, ClaimQuery, Evidence
from app.core import errors
from app.core.db import Database
from app.core.paging import pick_sort
from app.exports import claimreview
from app.imports.fields import CLAIM_FIELDS
from app.outlets.models import Outlet
from app.sources.models import Source
from app.speakers.models import Speaker
from app.vocabulary.formats import FORMULA_TRIGGERS

PAGE = 200
speaker_table = Speaker.__table__  # type: ignore[attr-defined]
outlet_table = Outlet.__table__  # type: ignore[attr-defined]
source_table = Source.__table__  # type: ignore[attr-defined]
evidence_table = Evidence.__table__  # type: ignore[attr-defined]
appearance_table = Appearance.__table__  # type: ignore[attr-defined]
CSV_COLUMNS = (
    "external_id",
    "statement",
    "language",
    "speaker",
    "speaker_role",
    "speaker_affiliation",
    "outlet",
    "context",
    "place",
    "topics",
    "claimed_at",
    "status",
    "verdict",
)


class ExportFormat(StrEnum):
    ndjson = "ndjson"
    csv = "csv"
    claimreview = "claimreview"


MEDIA_TYPES = {
    ExportFormat.ndjson: "application/x-ndjson",
    ExportFormat.csv: "text/csv; charset=utf-8",
    ExportFormat.claimreview: "application/ld+json",
}


class ExportQuery(ClaimQuery):
    """The claim collection's filters; the export walks every page itself."""

    format: ExportFormat = ExportFormat.ndjson
    sort: str = Field(default="id", max_length=20, description="Export order: id ascending.")


def _by_id(conn: sa.Connection, table: sa.Table, ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = conn.execute(sa.select(table).where(table.c.id.in_(ids))).mappings()
    return {row["id"]: dict(row) for row in rows}


def _page_related(conn: sa.Connection, claims: list[dict[str, Any]]) -> dict[str, Any]:
    ids = [c["id"] for c in claims]
    evidence: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(
        sa.select(evidence_table)
        .where(evidence_table.c.claim_id.in_(ids))
        .order_by(evidence_table.c.id)
    ).mappings():
        evidence.setdefault(row["claim_id"], []).append(dict(row))
    appearances: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(
        sa.select(appearance_table)
        .where(appearance_table.c.claim_id.in_(ids))
        .order_by(appearance_table.c.id)
    ).mappings():
        appearances.setdefault(row["claim_id"], []).append(dict(row))
    source_ids = {a["source_id"] for items in appearances.values() for a in items}
    source_ids |= {e["source_id"] for items in evidence.values() for e in items if e["source_id"]}
    sources = _by_id(conn, source_table, source_ids)
    outlet_ids = {c["outlet_id"] for c in claims if c["outlet_id"]}
    outlet_ids |= {s["outlet_id"] for s in sources.values() if s["outlet_id"]}
    return {
        "speakers": _by_id(
            conn, speaker_table, {c["speaker_id"] for c in claims if c["speaker_id"]}
        ),
        "outlets": _by_id(conn, outlet_table, outlet_ids),
        "sources": sources,
        "evidence": evidence,
        "appearances": appearances,
    }


def _outlet_ref(outlet: dict[str, Any] | None) -> dict[str, Any] | None:
    if outlet is None:
        return None
    ref = {"name": outlet["name"], "kind": outlet["kind"], "domain": outlet["domain"]}
    if outlet["external_id"]:
        ref["external_id"] = outlet["external_id"]
    return {k: v for k, v in ref.items() if v is not None}


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def import_record(claim: dict[str, Any], related: dict[str, Any]) -> dict[str, Any]:
    """The claim as an import record: importing it elsewhere reproduces it (its own fields
    are the ones an import record carries, ``CLAIM_FIELDS``; tests/exports/test_round_trip.py)."""
    record: dict[str, Any] = {name: claim[name] for name in CLAIM_FIELDS}
    record["external_id"] = claim["external_id"] or f"claimtracker:{claim['id']}"
    speaker = related["speakers"].get(claim["speaker_id"])
    if speaker is not None:
        record["speaker"] = {
            k: v
            for k, v in {
                "name": speaker["name"],
                "external_id": speaker["external_id"],
                "kind": speaker["kind"],
                "role": speaker["role"],
                "affiliation": speaker["affiliation"],
                "country": speaker["country"],
                "aliases": speaker["aliases"] or None,
            }.items()
            if v is not None
        }
    if claim["outlet_id"]:
        record["outlet"] = _outlet_ref(related["outlets"].get(claim["outlet_id"]))
    sources = []
    for appearance in related["appearances"].get(claim["id"], []):
        source = related["sources"][appearance["source_id"]]
        ref: dict[str, Any] = {
            "url": source["url"],
            "external_id": source["external_id"],
            "title": source["title"],
            "published_at": _iso(source["published_at"]),
            "outlet": _outlet_ref(related["outlets"].get(source["outlet_id"])),
            "role": appearance["role"],
            "quote": appearance["quote"],
        }
        sources.append({k: v for k, v in ref.items() if v is not None})
    if sources:
        record["sources"] = sources
    evidence = []
    for item in related["evidence"].get(claim["id"], []):
        url = item["url"]
        if url is None and item["source_id"]:
            url = related["sources"][item["source_id"]]["url"]
        entry = {"title": item["title"], "stance": item["stance"], "url": url, "note": item["note"]}
        evidence.append({k: v for k, v in entry.items() if v is not None})
    if evidence:
        record["evidence"] = evidence
    if claim["status"] != "unverified":
        record["status"] = claim["status"]
        record["verdict"] = claim["verdict"]
    return {k: v for k, v in record.items() if v is not None}


# Every cell that starts with a formula trigger (app/core/text.py) gets a leading ' (shown as
# text), and every data cell is quoted, so a spreadsheet that splits on another delimiter (a
# Dutch Excel splits on ;) cannot start a new cell mid-value. All columns are text, so the rule
# has no exceptions: a statement "-3% growth" exports as '-3% growth.


def neutralise_formula(value: Any) -> Any:
    """``value`` as a spreadsheet shows it as text: a ' before a leading formula trigger."""
    if value is None:
        return None
    text = str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _csv_line(values: list[Any], *, quoting: Literal[0, 1] = csv.QUOTE_MINIMAL) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, quoting=quoting).writerow(values)
    return buffer.getvalue().encode()


def _csv_row(claim: dict[str, Any], related: dict[str, Any]) -> bytes:
    speaker = related["speakers"].get(claim["speaker_id"]) or {}
    outlet = related["outlets"].get(claim["outlet_id"]) or {}
    values = [
        claim["external_id"] or f"claimtracker:{claim['id']}",
        claim["statement"],
        claim["language"],
        speaker.get("name"),
        speaker.get("role"),
        speaker.get("affiliation"),
        outlet.get("name"),
        claim["context"],
        claim["place"],
        ";".join(claim["topics"]),
        claim["claimed_at"],
        claim["status"],
        claim["verdict"],
    ]
    return _csv_line([neutralise_formula(value) for value in values], quoting=csv.QUOTE_ALL)


def _claim_pages(database: Database, query: ExportQuery) -> Iterator[tuple[list[Any], Any]]:
    page_query = ClaimQuery.model_validate(
        query.model_dump(exclude={"format", "cursor", "limit"}) | {"limit": PAGE}
    )
    cursor: str | None = None
    while True:
        with database.read_connection() as conn:
            rows, cursor = claims_queries.list_claims_on(
                conn, page_query.model_copy(update={"cursor": cursor})
            )
            claims = []
            for row in rows:
                claim = dict(zip(claims_queries.ROWS.keys, row, strict=True))
                claim["topics"] = orjson.loads(claim["topics"])
                claims.append(claim)
            related = _page_related(conn, claims) if claims else {}
        yield claims, related
        if cursor is None:
            return


def check_query(query: ExportQuery) -> None:
    """Errors a streaming answer could no longer report: checked before the first byte."""
    if query.cursor is not None:
        raise errors.BadRequest("Exports walk every page themselves: no cursor.", field="cursor")
    pick_sort(claims_queries.SORTS, query.sort)


def stream_export(
    database: Database, query: ExportQuery, *, organization: dict[str, str], base_url: str
) -> Iterator[bytes]:
    fmt = query.format
    if fmt is ExportFormat.csv:
        yield _csv_line(list(CSV_COLUMNS))
    if fmt is ExportFormat.claimreview:
        yield b'{"@context":"https://schema.org","@type":"DataFeed","dataFeedElement":['
    first = True
    for claims, related in _claim_pages(database, query):
        if fmt is ExportFormat.claimreview:
            with database.read_connection() as conn:
                related["settled"] = settled_claims(conn, claims, related)
        for claim in claims:
            if fmt is ExportFormat.ndjson:
                yield orjson.dumps(import_record(claim, related)) + b"\n"
            elif fmt is ExportFormat.csv:
                yield _csv_row(claim, related)
            else:
                review = claim_review_of(claim, related, organization, base_url, context=False)
                if review is None:
                    continue
                yield (b"" if first else b",\n") + claimreview.embeddable_json(review)
                first = False
    if fmt is ExportFormat.claimreview:
        yield b"]}\n"


def settled_claims(
    conn: sa.Connection, claims: list[dict[str, Any]], related: dict[str, Any]
) -> dict[int, dict[str, Any]]:
    """{claim id: the claim as its verdict was last settled} for the rated claims of a page,
    each with its ``settled_speaker``: the speaker as it stood when the verdict was settled."""
    rated = [claim for claim in claims if claim["status"] != "unverified"]
    versions = settlement.settled_snapshots(conn, [claim["id"] for claim in rated])
    settled = {
        claim["id"]: settlement.as_settled(claim, versions[claim["id"]].snapshot)
        for claim in rated
        if claim["id"] in versions
    }
    authors = settlement.speakers_as_of(
        conn,
        (
            (claim["speaker_id"], versions[claim_id].revision_id)
            for claim_id, claim in settled.items()
            if claim["speaker_id"]
        ),
    )
    for claim_id, claim in settled.items():
        key = (claim["speaker_id"], versions[claim_id].revision_id)
        claim["settled_speaker"] = authors.get(key)
    return settled


def claim_review_of(
    claim: dict[str, Any],
    related: dict[str, Any],
    organization: dict[str, str],
    base_url: str,
    *,
    context: bool = True,
) -> dict[str, Any] | None:
    """The ClaimReview of ``claim`` as its verdict was last settled (``settled_claims``, in
    ``related``); None while it is unverified or has never been settled."""
    settled = related.get("settled", {}).get(claim["id"])
    if settled is None:
        return None
    appearances = [
        {
            "url": related["sources"][a["source_id"]]["url"],
            "title": related["sources"][a["source_id"]]["title"],
            "role": a["role"],
        }
        for a in related["appearances"].get(claim["id"], [])
    ]
    return claimreview.claim_review(
        settled,
        speaker=settled["settled_speaker"],
        appearances=appearances,
        organization=organization,
        url=f"{base_url}/api/v1/claims/{claim['id']}",
        with_context=context,
    )


def claim_review_for(
    conn: Connection, claim_id: int, *, organization: dict[str, str], base_url: str
) -> bytes:
    """The ClaimReview JSON-LD of one claim, safe to embed in an HTML script element. Its
    reads must see one moment: run it on a snapshot connection."""
    row = claims_queries.ROWS.by_id(conn, claim_id)
    if row is None:
        raise errors.NotFound(f"No claim with id {claim_id}.")
    if row.deleted_at is not None:
        raise errors.Gone(f"claim {claim_id} was deleted.")
    claim = dict(row._mapping)
    claim["topics"] = orjson.loads(claim["topics"])
    related = _page_related(conn, [claim])
    related["settled"] = settled_claims(conn, [claim], related)
    review = claim_review_of(claim, related, organization, base_url)
    if review is None:
        if claim["status"] == "unverified":
            raise errors.NotFound(
                f"Claim {claim_id} is unverified: it has no ClaimReview until it has a verdict."
            )
        raise errors.NotFound(
            f"Claim {claim_id} has no settled verdict yet: it has no ClaimReview until an "
            "editor settles one."
        )
    return claimreview.embeddable_json(review)
