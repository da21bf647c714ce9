"""claim: an index on (reviewed_at, id) for the public pages' newest-verdict-first keyset

Issue 13's public index and Atom feed list the published fact-checks by ``reviewed_at``
descending, keyset-paged on (reviewed_at, id): with this index a page is an index range scan
whatever its depth, as the API's other sorts are.

Revision ID: 5c1e9a7d3b20
Revises: 3c9e5a1f7d20
Create Date: 2026-11-30 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5c1e9a7d3b20"
down_revision: str | None = "3c9e5a1f7d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_claim_reviewed_at_id", "claim", ["reviewed_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_claim_reviewed_at_id", table_name="claim")
