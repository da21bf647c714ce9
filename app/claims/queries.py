"""Reading claims: the filtered, searchable list, and a claim's evidence and appearances."""

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import Connection, text

from app.claims.models import Appearance, Claim, ClaimPublic, ClaimQuery, ClaimTopic, Evidence
from app.core import errors
from app.core.pages import KeysetList, Page, compare, equals
from app.core.paging import sort_keys
from app.core.rowjson import RowJson
from app.tracked.lookup import require_present

if TYPE_CHECKING:
    from app.core.db import Database

claim_table = Claim.__table__  # type: ignore[attr-defined]
topic_table = ClaimTopic.__table__  # type: ignore[attr-defined]
evidence_table = Evidence.__table__  # type: ignore[attr-defined]
appearance_table = Appearance.__table__  # type: ignore[attr-defined]
ROWS = RowJson(claim_table, ClaimPublic.model_fields)
SORTS = sort_keys(
    claim_table.c.id,
    {"claimed_at": claim_table.c.claimed_at, "updated_at": claim_table.c.updated_at},
)


def _tagged(_dialect: str) -> Any:
    # IN, not a correlated EXISTS: SQLite then starts from the (topic, claim_id) index.
    tagged = sa.select(topic_table.c.claim_id).where(
        topic_table.c.topic == sa.bindparam("topic", type_=topic_table.c.topic.type)
    )
    return claim_table.c.id.in_(tagged)


def _matches(dialect: str) -> Any:
    """Full-text match: FTS5 on SQLite, a tsvector with the 'simple' configuration on PostgreSQL
    (claims come in many languages, so no stemming). The value: ``_search_value``."""
    if dialect == "sqlite":
        return text("claim.id IN (SELECT rowid FROM claim_fts WHERE claim_fts MATCH :q)")
    return text("claim.search_vector @@ plainto_tsquery('simple', :q)")


def _search_value(dialect: str, q: str) -> str:
    if dialect == "sqlite":
        query = fts5_query(q)
        if not query:
            raise errors.BadRequest("q must contain a word.", field="q")
        return query
    return q


_c = claim_table.c
CLAIMS = KeysetList(
    ROWS,
    SORTS,
    {
        "status": equals(_c.status, "status"),
        "review": equals(_c.review, "review"),
        "speaker_id": equals(_c.speaker_id, "speaker_id"),
        "outlet_id": equals(_c.outlet_id, "outlet_id"),
        "language": equals(_c.language, "language"),
        "topic": _tagged,
        "claimed_after": compare(_c.claimed_at, operator.ge, "claimed_after"),
        "claimed_before": compare(_c.claimed_at, operator.lt, "claimed_before"),
        "updated_since": compare(_c.updated_at, operator.ge, "updated_since"),
        "q": _matches,
    },
)


async def list_claims(database: "Database", query: ClaimQuery) -> Page:
    """A page of live claims (rows of ``ROWS``, in its column order) and the next cursor: one
    statement (two on a nullable sort whose page reaches the claims without a value)."""
    filters = filters_of(database.engine.dialect.name, query)
    return await CLAIMS.page(database, filters, query.sort, query.cursor, query.limit)


def list_claims_on(conn: Connection, query: ClaimQuery) -> Page:
    """``list_claims`` on a connection the caller holds."""
    filters = filters_of(conn.dialect.name, query)
    return CLAIMS.page_on(conn, filters, query.sort, query.cursor, query.limit)


def filters_of(dialect: str, query: ClaimQuery) -> dict[str, Any]:
    """The list filters ``query`` sets, by name, with their values (``CLAIMS.conditions``)."""
    filters: dict[str, Any] = {
        name: value
        for name, value in (
            ("status", query.status),
            ("review", query.review),
            ("speaker_id", query.speaker_id),
            ("outlet_id", query.outlet_id),
            ("language", query.language),
            ("topic", query.topic.strip().lower() if query.topic is not None else None),
            ("claimed_after", query.claimed_after),
            ("claimed_before", query.claimed_before),
            ("updated_since", query.updated_since),
        )
        if value is not None
    }
    if query.q is not None and query.q.strip():
        filters["q"] = _search_value(dialect, query.q)
    return filters


def fts5_query(text: str) -> str:
    """Every word of the user's text as a quoted FTS5 string: no operator gets through."""
    words = [word.replace('"', '""') for word in text.split()]
    return " ".join(f'"{word}"' for word in words if word.strip('"'))


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
