"""Reading claims: the filtered, searchable list, and a claim's evidence and appearances."""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, text

from app.claims.models import Appearance, Claim, ClaimQuery, ClaimTopic, Evidence
from app.core import errors
from app.core.paging import fetch_page, pick_sort, sort_keys
from app.core.rowjson import RowJson
from app.tracked.lookup import require_present

claim_table = Claim.__table__  # type: ignore[attr-defined]
topic_table = ClaimTopic.__table__  # type: ignore[attr-defined]
evidence_table = Evidence.__table__  # type: ignore[attr-defined]
appearance_table = Appearance.__table__  # type: ignore[attr-defined]
ROWS = RowJson(claim_table)
SORTS = sort_keys(
    claim_table.c.id,
    {"claimed_at": claim_table.c.claimed_at, "updated_at": claim_table.c.updated_at},
)


def list_claims(conn: Connection, query: ClaimQuery) -> tuple[Sequence[Any], str | None]:
    sort = pick_sort(SORTS, query.sort)
    c = claim_table.c
    statement = ROWS.select(conn.dialect.name).where(c.deleted_at.is_(None))
    for column, value in (
        (c.status, query.status),
        (c.review, query.review),
        (c.speaker_id, query.speaker_id),
        (c.outlet_id, query.outlet_id),
        (c.language, query.language),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if query.topic is not None:
        # IN, not a correlated EXISTS: SQLite then starts from the (topic, claim_id) index.
        tagged = sa.select(topic_table.c.claim_id).where(
            topic_table.c.topic == query.topic.strip().lower()
        )
        statement = statement.where(c.id.in_(tagged))
    if query.claimed_after is not None:
        statement = statement.where(c.claimed_at >= query.claimed_after)
    if query.claimed_before is not None:
        statement = statement.where(c.claimed_at < query.claimed_before)
    if query.updated_since is not None:
        statement = statement.where(c.updated_at >= query.updated_since)
    if query.q is not None and query.q.strip():
        statement = statement.where(_matches(conn, query.q))
    return fetch_page(conn, statement, sort, query.cursor, query.limit)


def fts5_query(text: str) -> str:
    """Every word of the user's text as a quoted FTS5 string: no operator gets through."""
    words = [word.replace('"', '""') for word in text.split()]
    return " ".join(f'"{word}"' for word in words if word.strip('"'))


def _matches(conn: Connection, q: str) -> Any:
    """Full-text match: FTS5 on SQLite, a tsvector with the 'simple' configuration on PostgreSQL
    (claims come in many languages, so no stemming)."""
    if conn.dialect.name == "sqlite":
        query = fts5_query(q)
        if not query:
            raise errors.BadRequest("q must contain a word.", field="q")
        return text(
            "claim.id IN (SELECT rowid FROM claim_fts WHERE claim_fts MATCH :fts_query)"
        ).bindparams(fts_query=query)
    return text("claim.search_vector @@ plainto_tsquery('simple', :ts_query)").bindparams(
        ts_query=q
    )


# The two reads below (the claim's check, then its list) share no snapshot on SQLite (see
# Database.read): at worst they answer what the same request a moment earlier would have.


def claim_evidence(conn: Connection, claim_id: int) -> Sequence[sa.Row[Any]]:
    """The evidence of a live claim, oldest first (404/410 for a missing or deleted claim)."""
    _require_claim(conn, claim_id)
    return list_evidence(conn, claim_id)


def claim_appearances(conn: Connection, claim_id: int) -> Sequence[sa.Row[Any]]:
    """Where a live claim appeared, oldest first (404/410 for a missing or deleted claim)."""
    _require_claim(conn, claim_id)
    return list_appearances(conn, claim_id)


def list_evidence(conn: Connection, claim_id: int) -> Sequence[sa.Row[Any]]:
    statement = sa.select(evidence_table).where(evidence_table.c.claim_id == claim_id)
    return conn.execute(statement.order_by(evidence_table.c.id)).all()


def list_appearances(conn: Connection, claim_id: int) -> Sequence[sa.Row[Any]]:
    statement = sa.select(appearance_table).where(appearance_table.c.claim_id == claim_id)
    return conn.execute(statement.order_by(appearance_table.c.id)).all()


def _require_claim(conn: Connection, claim_id: int) -> None:
    statement = sa.select(claim_table.c.deleted_at).where(claim_table.c.id == claim_id)
    row = conn.execute(statement).first()
    require_present(row, "claim", claim_id, deleted_at=row.deleted_at if row else None)
