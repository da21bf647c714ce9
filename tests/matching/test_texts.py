"""``claim_text`` follows every edit of a claim's statement and original quote: a quote added,
reworded and removed, a statement reworded, an edit of other fields touching nothing."""

from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from app.claims import service as claims_service
from app.claims.models import ClaimUpdate
from app.matching.texts import text_rows, text_table
from app.tracked.versions import NO_PRECONDITION
from tests import factories
from tests.factories import ACTOR


def stored(session: Session, claim_id: int) -> list[dict[str, Any]]:
    rows = session.connection().execute(
        sa.select(text_table.c.claim_id, text_table.c.field, text_table.c.text_hash)
        .add_columns(text_table.c.normalized)
        .where(text_table.c.claim_id == claim_id)
        .order_by(text_table.c.field)
    )
    return [dict(row._mapping) for row in rows]


def expected(claim_id: int, **values: Any) -> list[dict[str, Any]]:
    return sorted(text_rows(claim_id, values), key=lambda row: row["field"])


@pytest.mark.parametrize(
    "changes",
    [
        {
            "original_quote": "Alles ten oosten van de Bachmoetka is van Wagner.",
            "original_language": "nl",
        },
        {"statement": "Everything east of the Bakhmutka river is held by Wagner."},
    ],
)
def test_each_edit_leaves_the_texts_of_the_claim_as_it_now_is(
    session: Session, changes: dict[str, Any]
) -> None:
    claim = factories.claim(session)
    first = {"statement": claim.statement, "original_quote": claim.original_quote}
    assert stored(session, claim.id) == expected(claim.id, **first)
    steps = [
        changes,
        {"original_quote": "Een andere formulering van het citaat.", "original_language": "nl"},
        {"original_quote": None, "original_language": None},
        {"context": "nothing the search reads"},
        {"original_quote": "Weer terug, anders verwoord.", "original_language": "nl"},
    ]
    for step in steps:
        claims_service.update_claim(
            session, claim.id, ClaimUpdate(**step), expect=NO_PRECONDITION, actor=ACTOR
        )
        now = {"statement": claim.statement, "original_quote": claim.original_quote}
        assert stored(session, claim.id) == expected(claim.id, **now), step
