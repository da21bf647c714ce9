"""Similar claims: the reads (similar to a text, similar to a stored claim, the stored pairs)
and the suggestions stored for new claims. The decisions on pairs are in links.py.

When suggestions are stored: for every new claim, by the matcher following the change feed
(suggestions.py, matcher.py: right after a ``POST /claims`` answer, and in the background for
what imports and seeds create), and for an import's exact duplicates in the import's own
transaction. A suggestion is the matching's guess, not a change to a claim: it writes no
revision. A pair already stored in any state is never stored again, so a rejected pair is
never suggested again; ``GET /claims/{id}/similar`` leaves rejected partners out too.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from app.claims import queries
from app.claims.models import Claim
from app.core.base import utcnow
from app.core.db import in_chunks
from app.core.paging import decode_cursor, encode_cursor, pick_sort, sort_keys
from app.matching.links import pair
from app.matching.models import ClaimMatch, ClaimText, MatchedField, MatchQuery, MatchState
from app.matching.search import EXACT, Found, find_similar
from app.tracked.lookup import require_present

match_table = ClaimMatch.__table__  # type: ignore[attr-defined]
text_table = ClaimText.__table__  # type: ignore[attr-defined]
claim_table = Claim.__table__  # type: ignore[attr-defined]
MATCH_SORTS = sort_keys(match_table.c.id, {})


@dataclass(frozen=True, slots=True)
class Thresholds:
    """``suggest``: the least score a similar claim is shown or suggested with; ``link``: the
    least an import's on_duplicate=link/skip acts on, and only for statements of at least
    ``link_min_words`` words (an exact duplicate always)."""

    suggest: float
    link: float
    link_min_words: int


def similar_to_text(
    conn: Connection, statement: str, *, limit: int, thresholds: Thresholds
) -> list[dict[str, Any]]:
    """POST /claims/similar: the stored claims that say what ``statement`` says."""
    found = find_similar(conn, statement, threshold=thresholds.suggest, limit=limit)
    return _items(conn, found)


def similar_to_claim(
    conn: Connection, claim_id: int, *, limit: int, thresholds: Thresholds
) -> list[dict[str, Any]]:
    """GET /claims/{id}/similar: as ``similar_to_text`` for the claim's statement and its
    original quote, without the claim itself and the claims the desk said differ from it."""
    found = similar_claims(conn, claim_id, limit=limit, threshold=thresholds.suggest)
    return _items(conn, found)


def similar_claims(
    conn: Connection, claim_id: int, *, limit: int, threshold: float, trigrams: bool = True
) -> list[Found]:
    row = conn.execute(
        sa.select(
            claim_table.c.statement, claim_table.c.original_quote, claim_table.c.deleted_at
        ).where(claim_table.c.id == claim_id)
    ).first()
    found = require_present(row, "claim", claim_id, deleted_at=row.deleted_at if row else None)
    exclude = {claim_id, *_rejected_partners(conn, claim_id)}
    best: dict[int, Found] = {}
    for text in (found.statement, found.original_quote):
        if not text:
            continue
        found_here = find_similar(
            conn, text, threshold=threshold, limit=limit, exclude=exclude, trigrams=trigrams
        )
        for item in found_here:
            if item.claim_id not in best or item.score > best[item.claim_id].score:
                best[item.claim_id] = item
    return sorted(best.values(), key=lambda item: (-item.score, item.claim_id))[:limit]


def exact_duplicates(
    conn: Connection, claim_ids: Sequence[int], *, limit: int
) -> dict[int, list[Found]]:
    """For each of ``claim_ids``, the other live claims with a text of the same normalised
    form (statement or original quote, either way round), at most ``limit`` each, lowest id
    first: one hash join a chunk of claims, the cheap matching of an import's new claims."""
    new, other = text_table.alias("new"), text_table.alias("other")
    found: dict[int, dict[int, Found]] = {}
    for chunk in in_chunks(claim_ids):
        rows = conn.execute(
            sa.select(new.c.claim_id, other.c.claim_id.label("other_id"), other.c.field)
            .join(
                other,
                sa.and_(other.c.text_hash == new.c.text_hash, other.c.claim_id != new.c.claim_id),
            )
            .join(claim_table, claim_table.c.id == other.c.claim_id)
            .where(new.c.claim_id.in_(chunk), claim_table.c.deleted_at.is_(None))
            .order_by(new.c.claim_id, other.c.claim_id)
        )
        for row in rows:
            items = found.setdefault(row.claim_id, {})
            if len(items) < limit and row.other_id not in items:
                items[row.other_id] = Found(row.other_id, 1.0, EXACT, MatchedField(row.field))
    return {claim_id: list(items.values()) for claim_id, items in found.items()}


def _rejected_partners(conn: Connection, claim_id: int) -> set[int]:
    m = match_table.c
    statement = sa.select(m.claim_id, m.other_id).where(
        sa.or_(m.claim_id == claim_id, m.other_id == claim_id),
        m.state == MatchState.rejected.value,
    )
    return {a if b == claim_id else b for a, b in conn.execute(statement)}


def _items(conn: Connection, found: Sequence[Found]) -> list[dict[str, Any]]:
    items = []
    for item in found:
        row = queries.ROWS.by_id(conn, item.claim_id)
        if row is None:  # deleted meanwhile
            continue
        items.append(
            {
                "claim": queries.ROWS.as_json_ready(dict(row._mapping)),
                "score": item.score,
                "method": item.method,
                "matched_field": item.matched_field.value,
            }
        )
    return items


def store_pairs(conn: Connection, found: dict[int, list[Found]]) -> None:
    """Store as suggestions the pairs of ``found`` that are not stored in any state."""
    wanted: dict[tuple[int, int], Found] = {}
    for claim_id, items in found.items():
        for item in items:
            wanted.setdefault(pair(claim_id, item.claim_id), item)
    if not wanted:
        return
    m = match_table.c
    low_ids = sorted({low for low, _ in wanted})
    stored = conn.execute(sa.select(m.claim_id, m.other_id).where(m.claim_id.in_(low_ids)))
    for key in stored:
        wanted.pop((key.claim_id, key.other_id), None)
    now = utcnow()
    rows = [
        {
            "claim_id": low,
            "other_id": high,
            "state": MatchState.suggested.value,
            "method": item.method,
            "score": item.score,
            "matched_field": item.matched_field.value,
            "created_at": now,
        }
        for (low, high), item in sorted(wanted.items())
    ]
    if rows:
        conn.execute(sa.insert(match_table), rows)


def merged_into(conn: Connection, claim_id: int) -> int | None:
    """The claim a merged claim was merged into (None: it was not merged)."""
    m = match_table.c
    statement = sa.select(m.merged_into_id).where(
        sa.or_(m.claim_id == claim_id, m.other_id == claim_id),
        m.merged_into_id.is_not(None),
        m.merged_into_id != claim_id,
    )
    return conn.execute(statement).scalars().first()


def list_matches(conn: Connection, query: MatchQuery) -> tuple[list[ClaimMatch], str | None]:
    """A page of stored pairs, newest first by default, filtered by state and claim."""
    sort = pick_sort(MATCH_SORTS, query.sort)
    m = match_table.c
    statement = sa.select(match_table)
    if query.state is not None:
        statement = statement.where(m.state == query.state.value)
    if query.claim_id is not None:
        statement = statement.where(
            sa.or_(m.claim_id == query.claim_id, m.other_id == query.claim_id)
        )
    if query.cursor is not None:
        _, last_id = decode_cursor(query.cursor, sort)
        statement = statement.where(m.id < last_id if sort.descending else m.id > last_id)
    statement = statement.order_by(*sort.order_by()).limit(query.limit + 1)
    rows = [ClaimMatch.model_validate(dict(row._mapping)) for row in conn.execute(statement)]
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        next_cursor = encode_cursor(sort, None, rows[-1].id)  # type: ignore[arg-type]
    return rows, next_cursor
