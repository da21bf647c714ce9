"""A claim's links as its history records them: the ``links`` of its snapshot.

Every pair the desk decided on (confirmed, rejected, merged) is part of both claims' snapshots,
so confirming, rejecting, linking and merging are each a revision of both claims, and the
change shows the method and the score next to who, when and why. Suggestions are not: they
are the matching's guesses, not a change to the claim. A claim with no decided pair has no
``links`` key at all (its snapshots are what they were before this feature)."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement

from app.core.rowjson import json_rows_text
from app.matching.models import ClaimMatch, MatchState

match_table = ClaimMatch.__table__  # type: ignore[attr-defined]
# One link, seen from the claim: the pair's id, the other claim, then the pair's own fields.
LINK_FIELDS = (
    "match_id",
    "claim_id",
    "state",
    "relation",
    "merged_into_id",
    "method",
    "score",
    "matched_field",
)


def links_column(dialect: str, claim_id: ColumnElement[Any]) -> ColumnElement[str]:
    """The claim's decided pairs as one JSON text: a list of rows of LINK_FIELDS."""
    m = match_table.c
    other = sa.case((m.claim_id == claim_id, m.other_id), else_=m.claim_id)
    columns = [m.id, other, m.state, m.relation, m.merged_into_id, m.method, m.score]
    columns.append(m.matched_field)
    decided = m.state != MatchState.suggested.value
    mine = sa.or_(m.claim_id == claim_id, m.other_id == claim_id)
    rows: ColumnElement[str] = json_rows_text(dialect, columns, mine, decided)
    return rows


def with_links(snapshot: dict[str, Any], links: list[dict[str, Any]]) -> dict[str, Any]:
    """``snapshot`` with its ``links`` (none: no key)."""
    if links:
        snapshot["links"] = links
    return snapshot
