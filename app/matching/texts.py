"""Keeping ``claim_text`` in step with the claims: the claim service calls these from its
``after_change`` / ``after_create_many`` hooks, so every write path that sets a statement or an
original quote (single writes, reverts, imports' batch and record paths, seeds) keeps the
normalised texts and their hashes, in the write's own transaction. Flush-level: no commit."""

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from app.core.bulk import insert_rows
from app.matching.models import ClaimText, MatchedField
from app.matching.normalize import normalize, normalized_hash

text_table = ClaimText.__table__  # type: ignore[attr-defined]
FIELDS = (MatchedField.statement, MatchedField.original_quote)


def text_rows(claim_id: int, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``claim_text`` rows of a claim with these field values (none for an empty field)."""
    rows = []
    for field in FIELDS:
        value = values.get(field.value)
        if value and value.strip():
            normalized = normalize(value)
            rows.append(
                {
                    "claim_id": claim_id,
                    "field": field.value,
                    "text_hash": normalized_hash(normalized),
                    "normalized": normalized,
                }
            )
    return rows


def store_new(conn: Connection, claims: Iterable[Mapping[str, Any]]) -> None:
    """The texts of new claims (rows or snapshots with their ``id``): one INSERT for all."""
    rows = [row for claim in claims for row in text_rows(claim["id"], claim)]
    insert_rows(conn, text_table, rows)


def changed(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> bool:
    """Whether a write changed what ``claim_text`` holds for the claim."""
    if before is None:
        return True
    return any(before.get(field.value) != after.get(field.value) for field in FIELDS)


def replace(
    conn: Connection, claim_id: int, before: Mapping[str, Any], after: Mapping[str, Any]
) -> None:
    """The claim's texts after a change of its statement or original quote: one statement per
    field that changed (an edited statement is one UPDATE, so the search indexes' triggers
    re-index that text alone; bench/history_cost.py counted a DELETE and an INSERT of both)."""
    old = {row["field"]: row for row in text_rows(claim_id, before)}
    for row in text_rows(claim_id, after):
        field = row["field"]
        if field not in old:
            conn.execute(sa.insert(text_table), row)
        elif old.pop(field)["normalized"] != row["normalized"]:
            conn.execute(
                sa.update(text_table)
                .where(text_table.c.claim_id == claim_id, text_table.c.field == field)
                .values(text_hash=row["text_hash"], normalized=row["normalized"])
            )
    for field in old:  # emptied
        conn.execute(
            sa.delete(text_table).where(
                text_table.c.claim_id == claim_id, text_table.c.field == field
            )
        )
