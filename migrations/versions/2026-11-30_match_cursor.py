"""match cursor: how far the similar-claims matcher has followed the change feed; smaller GIN
pending lists

Issue 14. The matcher stores the similar claims of every new claim as suggestions, following
the change feed (app/matching/suggestions.py); ``match_cursor`` is its one row, the id of the
last revision it has taken. The upgrade starts it at the end of the history: the claims
already stored are not matched again (``GET /claims/{id}/similar`` still finds theirs).

PostgreSQL: the two GIN indexes of the similar-claims search get a pending list of 256 kB
instead of the server's default (4 MB). New entries wait in that list, which every search
reads through, until (auto)vacuum or a full list merges them: after a bulk import the
matcher's searches read megabytes each. Measured on the LIAR import (bench/RESULTS.md): the
matcher took 28 claims/s with the default list, 165 with 256 kB (181 with fastupdate off,
which cut the import itself from 2,116 to 1,205 rows/s; 256 kB left it at 2,275).

Revision ID: 7e09f8167180
Revises: dfa4e6e00333
Create Date: 2026-11-30 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7e09f8167180"
down_revision: str | None = "dfa4e6e00333"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GIN_INDEXES = ("ix_claim_text_words", "ix_claim_text_trigram")


def upgrade() -> None:
    op.create_table(
        "match_cursor",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_cursor")),
    )
    op.execute(
        "INSERT INTO match_cursor (id, revision_id) "
        "SELECT 1, COALESCE(MAX(id), 0) FROM revision"
    )
    if op.get_bind().dialect.name == "postgresql":
        for index in GIN_INDEXES:
            op.execute(f"ALTER INDEX {index} SET (gin_pending_list_limit = 256)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for index in GIN_INDEXES:
            op.execute(f"ALTER INDEX {index} RESET (gin_pending_list_limit)")
    op.drop_table("match_cursor")
