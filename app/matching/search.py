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

import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import sqlalchemy as sa
from rapidfuzz import fuzz
from sqlalchemy import Connection, text

from app.claims.models import Claim
from app.matching.models import ClaimText, MatchedField
from app.matching.normalize import content_words, normalize, normalized_hash

STEM = 5  # letters of a word's stem in the word-level score
CANDIDATES = 30  # per search, re-ranked in Python
MAX_QUERY_WORDS = 5  # the query's rarest words searched
COUNTED = 30  # texts counted per query word at most (a word with more is common)
COMMON_WORDS = 4  # common words paired when the query has fewer than two rare ones
MAX_RANKED = 1_000  # texts the database ranks at most per word search
MAX_TRIGRAM_WORDS = 2  # words searched by trigrams
MAX_SPELLED = 20  # ... among those held by at most this many texts as written
TRIGRAM_ROWS = 200  # texts a trigram search looks at most
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
    """How surely two normalised texts say the same thing, 0..1, over their content words: the
    mean of a character-level score (rapidfuzz's token-sort ratio, word order does not matter,
    and token-set ratio, one text may be a truncation of the other) and a word-level one (the
    Dice overlap of the words' stems, so "destroyed" meets "destroy" and "vernietigd"
    "vernietiging"); 1.0 only for the same words."""
    a_words, b_words = content_words(query), content_words(candidate)
    a = " ".join(a_words) or query
    b = " ".join(b_words) or candidate
    if a == b:
        return 1.0
    chars = 0.5 * fuzz.token_sort_ratio(a, b) / 100 + 0.5 * fuzz.token_set_ratio(a, b) / 100
    a_stems, b_stems = _stems(a_words or a.split()), _stems(b_words or b.split())
    words = 2 * len(a_stems & b_stems) / ((len(a_stems) + len(b_stems)) or 1)
    return round(min(0.5 * chars + 0.5 * words, 0.999), 4)


def _stems(words: Iterable[str]) -> set[str]:
    """Each word's first ``STEM`` letters: a light stemming that treats English and Dutch
    inflections alike (numbers stay whole)."""
    return {w[:STEM] if w.isalpha() else w for w in words}


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
    for claim_id, field in _exact(conn, normalized_hash(normalized)):
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
    words = content_words(normalized)
    if not words:
        return []
    if conn.dialect.name != "postgresql":
        counts = _sqlite_counts(conn, words)
        rare, spelled = _rarest(words, counts), _spelled(words, counts) if trigrams else []
        found = _sqlite_words(conn, rare) if rare else []
        return found + (_sqlite_trigrams(conn, spelled) if spelled else [])
    # The planner must not trade the text indexes for a sequential scan that stops at the
    # LIMIT (what it picks for a word it believes common, or on a table not analysed yet: a
    # scan of every text for a rare word). SET LOCAL, restored at once; a failed transaction
    # rolls it back anyway.
    previous = conn.execute(_PG_NO_SEQSCAN).scalar_one()
    counts = _pg_counts(conn, words)
    rare, spelled = _rarest(words, counts), _spelled(words, counts) if trigrams else []
    found = _pg_words(conn, rare) if rare else []
    found += _pg_trigrams(conn, spelled) if spelled else []
    conn.execute(_PG_SEQSCAN, {"previous": previous})
    return found


def _rarest(words: list[str], counts: dict[str, int]) -> list[list[str]]:
    """What the word search asks for: any of the groups, each group's words all in a text.

    The query's rare words (held by fewer than ``COUNTED`` texts; at most ``MAX_QUERY_WORDS``,
    fewest texts first, then longest), each a group: rare words say what a text is about, and
    they bound the texts to rank. A query with fewer than two adds the pairs of its longest
    common words (at most ``COMMON_WORDS``): a pair of common words is rare together. A word
    no text has (a typo, a new name) is left to the trigrams."""
    known = sorted((w for w in words if counts.get(w, 0)), key=lambda w: (counts[w], -len(w)))
    rare = [w for w in known if counts[w] < COUNTED][:MAX_QUERY_WORDS]
    groups = [[word] for word in rare]
    if len(rare) < 2:
        common = sorted((w for w in known if counts[w] >= COUNTED), key=len, reverse=True)
        pairs = combinations(common[:COMMON_WORDS], 2)
        groups += [list(pair) for pair in pairs] or [[word] for word in common[:1]]
    return groups


def _spelled(words: list[str], counts: dict[str, int]) -> list[str]:
    """The words worth a trigram search: long ones that few or no texts have as written (a
    typo, a name spelt otherwise), fewest texts first, then longest."""
    rare = [w for w in words if len(w) >= 6 and counts.get(w, 0) <= MAX_SPELLED]
    rare.sort(key=lambda w: (counts.get(w, 0), -len(w)))
    return rare[:MAX_TRIGRAM_WORDS]


def _fts_any(terms: Iterable[str]) -> str:
    """An FTS5 query matching any of ``terms``, each quoted: no operator gets through."""
    return " OR ".join(_fts_term(term) for term in terms)


def _fts_term(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _fts_groups(groups: list[list[str]]) -> str:
    """An FTS5 query matching any group, all of a group's words."""
    return " OR ".join("(" + " AND ".join(_fts_term(w) for w in group) + ")" for group in groups)


def _halves(words: Iterable[str]) -> list[str]:
    """Each long word's first and last halves (at least 5 letters each, overlapping): matched
    as substrings (FTS5's trigram tokenizer; pg_trgm's LIKE), so "prigozjin" meets "prigozhin"
    by its prefix "prigoz" and "prigozhin" meets "prigozjin" likewise, while each substring is an
    intersection of a few trigrams' postings (fast), not a union of all of them."""
    halves: list[str] = []
    for word in words:
        cut = len(word) // 2
        halves += [word[: max(cut + 1, 5)], word[min(cut - 1, len(word) - 5) :]]
    return list(dict.fromkeys(halves))


# --- SQLite: FTS5 -------------------------------------------------------------------------------

_SQLITE_COUNT = "SELECT doc FROM claim_text_fts_vocab WHERE term = :w"
# FTS5 ranks inside the LIMITed subquery only: at most :n texts are scored.
_SQLITE_SEARCH = (
    "SELECT t.claim_id, t.field, t.normalized FROM "
    "(SELECT id FROM (SELECT rowid AS id, rank FROM {table} WHERE {table} MATCH :q LIMIT :n) "
    "ORDER BY rank LIMIT :k) AS f JOIN claim_text AS t ON t.id = f.id "
    "JOIN claim ON claim.id = t.claim_id WHERE claim.deleted_at IS NULL"
)


def _sqlite_counts(conn: Connection, words: list[str]) -> dict[str, int]:
    """How many texts hold each word (``fts5vocab``; one lookup a word: an ``IN`` list would
    scan the whole vocabulary)."""
    statement = text(_SQLITE_COUNT)
    return {w: min(conn.execute(statement, {"w": w}).scalar() or 0, COUNTED) for w in words}


def _sqlite_words(conn: Connection, groups: list[list[str]]) -> list[tuple[int, str, str, str]]:
    return _sqlite_search(conn, "claim_text_fts", _fts_groups(groups), WORDS, MAX_RANKED)


def _sqlite_trigrams(conn: Connection, words: list[str]) -> list[tuple[int, str, str, str]]:
    query = _fts_any(_halves(words))
    return _sqlite_search(conn, "claim_text_trigram", query, TRIGRAMS, TRIGRAM_ROWS)


def _sqlite_search(
    conn: Connection, table: str, query: str, method: str, rows_at_most: int
) -> list[tuple[int, str, str, str]]:
    rows = conn.execute(
        text(_SQLITE_SEARCH.format(table=table)),
        {"q": query, "n": rows_at_most, "k": CANDIDATES},
    )
    return [(row.claim_id, row.field, row.normalized, method) for row in rows]


# --- PostgreSQL: tsvector and pg_trgm ------------------------------------------------------------

_PG_NO_SEQSCAN = text(
    "SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true)"
)
_PG_SEQSCAN = text("SELECT set_config('enable_seqscan', :previous, true)")
# How many texts hold each word, counted up to COUNTED (the GIN index; a word's count stops
# there, so a common word costs little more than a rare one).
_PG_COUNTS = text(
    "SELECT w.word, (SELECT count(*) FROM (SELECT 1 FROM claim_text AS t "
    "WHERE t.search_words @@ to_tsquery('simple', w.lexeme) LIMIT :cap) AS s) AS n "
    "FROM unnest(CAST(:words AS text[]), CAST(:lexemes AS text[])) AS w(word, lexeme)"
)
_PG_WORDS = text(
    "SELECT f.claim_id, f.field, f.normalized FROM "
    "(SELECT claim_id, field, normalized, search_words FROM claim_text "
    "WHERE search_words @@ to_tsquery('simple', :q) LIMIT :n) AS f "
    "JOIN claim ON claim.id = f.claim_id WHERE claim.deleted_at IS NULL "
    "ORDER BY ts_rank(f.search_words, to_tsquery('simple', :q)) DESC LIMIT :k"
)
# Substrings through the pg_trgm GIN index (each LIKE pattern ANDs its trigrams).
_PG_TRIGRAMS = text(
    "SELECT f.claim_id, f.field, f.normalized FROM "
    "(SELECT claim_id, field, normalized FROM claim_text "
    "WHERE normalized LIKE ANY(CAST(:patterns AS text[])) LIMIT :n) AS f "
    "JOIN claim ON claim.id = f.claim_id WHERE claim.deleted_at IS NULL "
    "ORDER BY similarity(f.normalized, :q) DESC LIMIT :k"
)


def _lexeme(word: str) -> str:
    """A word as a quoted tsquery lexeme: no operator of the user's gets through."""
    return "'" + word.replace("'", "''").replace("\\", "") + "'"


# The words ANALYZE found in many texts (pg_stats: the most common elements of search_words,
# with their share of the rows): they are counted as common without a GIN lookup, which for
# a common word reads its whole posting list.
_PG_COMMON = text(
    "SELECT CAST(CAST(s.most_common_elems AS text) AS text[]) AS words, "
    "s.most_common_elem_freqs AS freqs, c.reltuples AS texts FROM pg_stats AS s "
    "JOIN pg_class AS c ON c.oid = to_regclass('claim_text') "
    "WHERE s.schemaname = current_schema() AND s.tablename = 'claim_text' "
    "AND s.attname = 'search_words'"
)
COMMON_SECONDS = 300.0  # how long a process keeps the common words of a database
_common_words: dict[str, tuple[float, frozenset[str]]] = {}


def _pg_common(conn: Connection) -> frozenset[str]:
    """The words the statistics say more than ``2 * COUNTED`` texts hold (empty before the
    table is analysed), re-read every ``COMMON_SECONDS``."""
    key = conn.engine.url.render_as_string(hide_password=True)
    now = time.monotonic()
    cached = _common_words.get(key)
    if cached is not None and now - cached[0] < COMMON_SECONDS:
        return cached[1]
    row = conn.execute(_PG_COMMON).first()
    common: frozenset[str] = frozenset()
    if row is not None and row.words and row.texts and row.texts > 0:
        common = frozenset(
            word
            for word, share in zip(row.words, row.freqs, strict=False)
            if share * row.texts > 2 * COUNTED
        )
    _common_words[key] = (now, common)
    return common


def _pg_counts(conn: Connection, words: list[str]) -> dict[str, int]:
    common = _pg_common(conn)
    counts = {w: COUNTED for w in words if w in common}
    rest = [w for w in words if w not in common]
    if rest:
        rows = conn.execute(
            _PG_COUNTS,
            {"words": rest, "lexemes": [_lexeme(w) for w in rest], "cap": COUNTED},
        )
        counts.update((row.word, row.n) for row in rows)
    return counts


def _pg_words(conn: Connection, groups: list[list[str]]) -> list[tuple[int, str, str, str]]:
    query = " | ".join("(" + " & ".join(_lexeme(w) for w in group) + ")" for group in groups)
    rows = conn.execute(_PG_WORDS, {"q": query, "n": MAX_RANKED, "k": CANDIDATES})
    return [(row.claim_id, row.field, row.normalized, WORDS) for row in rows]


def _pg_trigrams(conn: Connection, words: list[str]) -> list[tuple[int, str, str, str]]:
    patterns = ["%" + _escape_like(half) + "%" for half in _halves(words)]
    rows = conn.execute(
        _PG_TRIGRAMS,
        {"patterns": patterns, "q": " ".join(words), "n": TRIGRAM_ROWS, "k": CANDIDATES},
    )
    return [(row.claim_id, row.field, row.normalized, TRIGRAMS) for row in rows]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
