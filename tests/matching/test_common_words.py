"""PostgreSQL's search counts a word the statistics already call common without a GIN lookup;
the candidates it finds stay the same."""

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from app.matching import search
from app.matching.search import find_similar
from tests import factories

COMMON = "desalination"
STATEMENT = "Says {n} desalination plants near Odesa were shelled by Prigozhin's artillery units."


@pytest.fixture
def analysed(session: Session, backend: str) -> Session:
    if backend != "postgresql":
        pytest.skip("pg_stats is PostgreSQL's; SQLite counts through fts5vocab")
    for n in range(200):
        statement = STATEMENT.format(n=n) if n == 7 else f"Report {n}: {COMMON} costs rose again."
        factories.claim(session, statement=statement, original_quote=None)
    session.commit()
    session.connection().execute(sa.text("ANALYZE claim_text"))
    search._common_words.clear()  # another test's database state may be cached
    return session


def test_the_statistics_name_the_common_word_and_the_search_still_finds_the_claim(
    analysed: Session,
) -> None:
    conn = analysed.connection()
    common = search._pg_common(conn)
    assert COMMON in common
    assert "prigozhin" not in common
    counts = search._pg_counts(conn, ["desalination", "prigozhin", "odesa"])
    assert counts == {"desalination": search.COUNTED, "prigozhin": 1, "odesa": 1}
    found = find_similar(conn, STATEMENT.format(n=7), threshold=0.75, limit=3)
    assert found
    assert found[0].method == "exact"
    paraphrase = "Prigozhin's artillery units shelled desalination plants near Odesa"
    near = find_similar(conn, paraphrase, threshold=0.5, limit=3)
    assert [item.claim_id for item in near[:1]] == [found[0].claim_id]
    search._common_words.clear()
