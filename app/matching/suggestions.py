"""Suggestions for new claims, derived from the committed history (docs/similar.md).

The matcher follows the change feed from ``match_cursor`` and stores, for every claim the feed
shows created (by ``POST /claims``, an import, a seed, the CLI), its similar claims as
suggestions. It reads only what is committed, so a claim rolled back is never matched; and it
moves the cursor in the transaction that stores the page's pairs, so a process that stops
mid-way leaves the page to the next turn of any process: nothing is lost, nothing is stored
twice.

A turn is two steps: ``read_turn`` in a read (the feed page and the searches, the slow part:
no lock), then ``store_turn`` in a short write that moves the cursor only from where the read
found it (otherwise another process's turn took the page meanwhile) and inserts the pairs not
stored in any state yet. A suggestion is the matching's guess, not a change to a claim: it
writes no revision.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Connection

from app.claims.models import Claim
from app.history import service as history_service
from app.history.models import EntityType, RevisionAction
from app.matching.models import MatchCursor
from app.matching.search import Found
from app.matching.service import similar_claims, store_pairs

SUGGESTIONS = 5  # stored per new claim at most
FEED_PAGE = 1_000  # revisions read per turn at most

cursor_table = MatchCursor.__table__  # type: ignore[attr-defined]
claim_table = Claim.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Turn:
    """What one turn read: the cursor it started from, the last revision of its page, and the
    similar claims of the page's new claims (by the new claim's id)."""

    before: int
    after: int
    found: dict[int, list[Found]]

    @property
    def claims(self) -> int:
        return len(self.found)


def cursor(conn: Connection) -> int:
    """The id of the last revision the matcher has taken (0: none yet)."""
    value = conn.execute(sa.select(cursor_table.c.revision_id).where(cursor_table.c.id == 1))
    return value.scalar() or 0


def read_turn(conn: Connection, *, claims_at_most: int, threshold: float) -> Turn | None:
    """The next page of the feed after the cursor, up to its ``claims_at_most``-th new claim,
    with each new claim's similar claims (score at least ``threshold``); None when the feed
    shows nothing new."""
    before = cursor(conn)
    rows = history_service.feed_entities(conn, after=before, limit=FEED_PAGE)
    if not rows:
        return None
    created: list[int] = []
    after = before
    for revision_id, entity_type, entity_id, action in rows:
        if entity_type == EntityType.claim and action == RevisionAction.created:
            if len(created) == claims_at_most:
                break
            created.append(entity_id)
        after = revision_id
    live = conn.execute(
        sa.select(claim_table.c.id).where(
            claim_table.c.id.in_(created), claim_table.c.deleted_at.is_(None)
        )
    ).scalars()
    found = {
        claim_id: similar_claims(conn, claim_id, limit=SUGGESTIONS, threshold=threshold)
        for claim_id in sorted(live)
    }
    return Turn(before, after, found)


def store_turn(conn: Connection, turn: Turn) -> bool:
    """Move the cursor past the turn's page and store its pairs, if the cursor is still where
    the turn read it; False (nothing written) if another turn took the page meanwhile."""
    moved = conn.execute(
        sa.update(cursor_table)
        .where(cursor_table.c.id == 1, cursor_table.c.revision_id == turn.before)
        .values(revision_id=turn.after)
    )
    if moved.rowcount != 1:
        return False
    store_pairs(conn, turn.found)
    return True
