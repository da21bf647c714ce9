"""Finding the stored claims that say what a text says: candidates from the database's own
text search, re-ranked in Python.

1. Exact duplicates: the same normalised text, found by its hash (``claim_text.text_hash``),
   always, whatever the search finds.
2. Candidates: the ``CANDIDATES`` best texts by the database's word search (SQLite FTS5 BM25;
   PostgreSQL ``ts_rank`` on a 'simple' tsvector) over the query's content words, and as many
   by trigrams (SQLite FTS5 ``trigram`` tokenizer: the halves of the query's two longest
   words as substrings, ranked by BM25; PostgreSQL pg_trgm ``%``), which find spelling
   variants the word search misses (Prigozhin / Prigozjin). Statements and original quotes
   alike: a Dutch paraphrase meets a claim whose original quote is Dutch.
3. Re-ranking: ``score`` (rapidfuzz) of the normalised texts; each claim keeps its best field.

Only live claims are returned. No web framework; every function takes a Connection.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rapidfuzz import fuzz
from sqlalchemy import Connection, text

from app.claims.models import Claim
from app.matching.models import ClaimText, MatchedField
from app.matching.normalize import content_words, normalize, text_hash

CANDIDATES = 30
MAX_QUERY_WORDS = 8
MAX_TRIGRAM_WORDS = 2
# The pg_trgm similarity below which a text is no trigram candidate.
TRIGRAM_THRESHOLD = 0.3
EXACT, WORDS, TRIGRAMS = "exact", "bm25", "trigram"

text_table = ClaimText.__table__  # type: ignore[attr-defined]
claim_table = Claim.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Found:
    """A stored claim that says what the query says, with how it was found."""

    claim_id: int
    score: float
    method: str
    matched_field: MatchedField


def score(query: str, candidate: str) -> float:
    """How surely two normalised texts say the same thing, 0..1: the mean of rapidfuzz's
    token-sort ratio (word order does not matter) and token-set ratio (one text may be a
    truncation of the other), over the content words; 1.0 only for the same words."""
    a = " ".join(content_words(query)) or query
    b = " ".join(content_words(candidate)) or candidate
    if a == b:
        return 1.0
    blended = 0.5 * fuzz.token_sort_ratio(a, b) + 0.5 * fuzz.token_set_ratio(a, b)
    return round(min(blended / 100, 0.999), 4)


def find_similar(
    conn: Connection,
    statement: str,
    *,
    threshold: float,
    limit: int,
    exclude: Collection[int] = (),
    trigrams: bool = True,
) -> list[Found]:
    """The live claims whose statement or original quote says what ``statement`` says, with a
    score of at least ``threshold``, best first, at most ``limit``; never those in
    ``exclude``. Without ``trigrams``, no trigram candidates (imports: the cheaper search)."""
    normalized = normalize(statement)
    best: dict[int, Found] = {}
    for claim_id, field in _exact(conn, text_hash(statement)):
        if claim_id not in exclude:
            best[claim_id] = Found(claim_id, 1.0, EXACT, MatchedField(field))
    for claim_id, field, candidate, method in _candidates(conn, normalized, trigrams):
        if claim_id in exclude or (claim_id in best and best[claim_id].method == EXACT):
            continue
        value = score(normalized, candidate)
        if value >= threshold and (claim_id not in best or value > best[claim_id].score):
            best[claim_id] = Found(claim_id, value, method, MatchedField(field))
    ranked = sorted(best.values(), key=lambda found: (-found.score, found.claim_id))
    return ranked[:limit]


def _live(statement: Any) -> Any:
    return statement.join(claim_table, claim_table.c.id == text_table.c.claim_id).where(
        claim_table.c.deleted_at.is_(None)
    )


def _exact(conn: Connection, digest: str) -> list[tuple[int, str]]:
    statement = sa.select(text_table.c.claim_id, text_table.c.field).select_from(text_table)
    rows = conn.execute(_live(statement).where(text_table.c.text_hash == digest))
    return [(row.claim_id, row.field) for row in rows]


def _candidates(
    conn: Connection, normalized: str, trigrams: bool
) -> Iterable[tuple[int, str, str, str]]:
    words = sorted(content_words(normalized), key=len, reverse=True)[:MAX_QUERY_WORDS]
    if not words:
        return []
    if conn.dialect.name == "postgresql":
        found = _pg_words(conn, words)
        if trigrams:
            found += _pg_trigrams(conn, normalized)
    else:
        found = _sqlite_search(conn, "claim_text_fts", _fts_any(words), WORDS)
        grams = _trigrams(words[:MAX_TRIGRAM_WORDS]) if trigrams else []
        if grams:
            found += _sqlite_search(conn, "claim_text_trigram", _fts_any(grams), TRIGRAMS)
    return found


def _fts_any(terms: Iterable[str]) -> str:
    """An FTS5 query matching any of ``terms``, each quoted: no operator gets through."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def _trigrams(words: Iterable[str]) -> list[str]:
    """Each long word's first and last halves (at least 4 letters each, overlapping): FTS5's
    trigram tokenizer matches them as substrings, so "prigozjin" meets "prigozhin" by its
    prefix "prigoz" and "prigozhin" meets "prigozjin" likewise, while each substring is an
    intersection of a few trigrams' postings (fast), not a union of all of them."""
    halves: list[str] = []
    for word in words:
        if len(word) >= 6:
            cut = len(word) // 2
            halves += [word[: max(cut + 1, 4)], word[min(cut - 1, len(word) - 4) :]]
    return list(dict.fromkeys(halves))


_SQLITE_SEARCH = (
    "SELECT t.claim_id, t.field, t.normalized FROM "
    "(SELECT rowid AS id FROM {table} WHERE {table} MATCH :q ORDER BY bm25({table}) "
    "LIMIT :k) AS f JOIN claim_text AS t ON t.id = f.id "
    "JOIN claim ON claim.id = t.claim_id WHERE claim.deleted_at IS NULL"
)


def _sqlite_search(
    conn: Connection, table: str, query: str, method: str
) -> list[tuple[int, str, str, str]]:
    rows = conn.execute(text(_SQLITE_SEARCH.format(table=table)), {"q": query, "k": CANDIDATES})
    return [(row.claim_id, row.field, row.normalized, method) for row in rows]


_PG_WORDS = text(
    "SELECT t.claim_id, t.field, t.normalized FROM claim_text AS t "
    "JOIN claim ON claim.id = t.claim_id "
    "WHERE t.search_words @@ to_tsquery('simple', :q) AND claim.deleted_at IS NULL "
    "ORDER BY ts_rank(t.search_words, to_tsquery('simple', :q)) DESC LIMIT :k"
)
_PG_TRIGRAMS = text(
    "SELECT t.claim_id, t.field, t.normalized FROM claim_text AS t "
    "JOIN claim ON claim.id = t.claim_id "
    "WHERE t.normalized % :q AND claim.deleted_at IS NULL "
    "ORDER BY similarity(t.normalized, :q) DESC LIMIT :k"
)


def _pg_words(conn: Connection, words: list[str]) -> list[tuple[int, str, str, str]]:
    # Each word quoted as a tsquery lexeme: no operator of the user's gets through.
    query = " | ".join("'" + word.replace("'", "''").replace("\\", "") + "'" for word in words)
    rows = conn.execute(_PG_WORDS, {"q": query, "k": CANDIDATES})
    return [(row.claim_id, row.field, row.normalized, WORDS) for row in rows]


def _pg_trigrams(conn: Connection, normalized: str) -> list[tuple[int, str, str, str]]:
    conn.execute(
        text("SELECT set_config('pg_trgm.similarity_threshold', :t, true)"),
        {"t": str(TRIGRAM_THRESHOLD)},
    )
    rows = conn.execute(_PG_TRIGRAMS, {"q": normalized, "k": CANDIDATES})
    return [(row.claim_id, row.field, row.normalized, TRIGRAMS) for row in rows]
