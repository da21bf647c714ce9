"""similar claims: the claims' normalised texts with their hashes, their text search, the pairs

Issue 14. ``claim_text`` holds each claim's statement and original quote in the matching's
normalised form (app/matching/normalize.py) with its SHA-256: the exact-duplicate lookup. The
claim service keeps it in step on every write; this migration fills it for the claims already
stored. ``claim_match`` holds the pairs the matching suggested and what the desk decided
(unordered: ``claim_id`` < ``other_id``, unique).

The candidate search runs on ``claim_text.normalized``:
- SQLite: two external-content FTS5 tables kept by triggers on ``claim_text``: words
  (``unicode61``, ranked by BM25) and trigrams (the ``trigram`` tokenizer, for spelling
  variants such as Prigozhin / Prigozjin), and an ``fts5vocab`` table over the words (how many
  texts hold each word: the search picks the query's rarest words).
- PostgreSQL: a stored tsvector (``search_words``, the 'simple' configuration: claims come in
  many languages) with a GIN index, ranked by ``ts_rank``, and a pg_trgm GIN index
  (``CREATE EXTENSION IF NOT EXISTS pg_trgm``: a trusted extension since PostgreSQL 13, so
  the schema's owner may create it; the server's least-privilege role only uses its
  operators). The downgrade leaves the extension in place (other objects may use it).

Revision ID: dfa4e6e00333
Revises: 5c1e9a7d3b20
Create Date: 2026-11-30 18:53:43
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from app.matching.texts import text_rows

revision: str = "dfa4e6e00333"
down_revision: str | None = "5c1e9a7d3b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELD = sa.Enum(
    "statement", "original_quote", name="field", native_enum=False, create_constraint=True
)
SQLITE_FTS = (
    ("claim_text_fts", "unicode61 remove_diacritics 2"),
    ("claim_text_trigram", "trigram"),
)


def upgrade() -> None:
    op.create_table(
        "claim_text",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("field", FIELD, nullable=False),
        sa.Column("text_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("normalized", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claim.id"],
            name=op.f("fk_claim_text_claim_id_claim"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_text")),
        sa.UniqueConstraint("claim_id", "field", name=op.f("uq_claim_text_claim_id")),
    )
    op.create_index(op.f("ix_claim_text_text_hash"), "claim_text", ["text_hash"], unique=False)
    op.create_table(
        "claim_match",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "suggested",
                "confirmed",
                "rejected",
                name="state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "relation",
            sa.Enum(
                "duplicate", "related", name="relation", native_enum=False, create_constraint=True
            ),
            nullable=True,
        ),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column(
            "matched_field",
            sa.Enum(
                "statement",
                "original_quote",
                name="matched_field",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.CheckConstraint("claim_id < other_id", name=op.f("ck_claim_match_ordered_pair")),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claim.id"], name=op.f("fk_claim_match_claim_id_claim")
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["claim.id"], name=op.f("fk_claim_match_merged_into_id_claim")
        ),
        sa.ForeignKeyConstraint(
            ["other_id"], ["claim.id"], name=op.f("fk_claim_match_other_id_claim")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_match")),
        sa.UniqueConstraint("claim_id", "other_id", name=op.f("uq_claim_match_claim_id")),
    )
    op.create_index("ix_claim_match_other_id", "claim_match", ["other_id"], unique=False)
    op.create_index("ix_claim_match_state_id", "claim_match", ["state", "id"], unique=False)
    _create_search()
    _fill_texts()


def _create_search() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name, tokenizer in SQLITE_FTS:
            op.execute(
                f"CREATE VIRTUAL TABLE {name} USING fts5(normalized, content='claim_text', "
                f"content_rowid='id', tokenize='{tokenizer}')"
            )
            op.execute(
                f"CREATE TRIGGER {name}_after_insert AFTER INSERT ON claim_text BEGIN "
                f"INSERT INTO {name}(rowid, normalized) VALUES (new.id, new.normalized); END"
            )
            op.execute(
                f"CREATE TRIGGER {name}_after_delete AFTER DELETE ON claim_text BEGIN "
                f"INSERT INTO {name}({name}, rowid, normalized) "
                f"VALUES ('delete', old.id, old.normalized); END"
            )
            op.execute(
                f"CREATE TRIGGER {name}_after_update AFTER UPDATE OF normalized ON claim_text "
                f"BEGIN INSERT INTO {name}({name}, rowid, normalized) "
                f"VALUES ('delete', old.id, old.normalized); "
                f"INSERT INTO {name}(rowid, normalized) VALUES (new.id, new.normalized); END"
            )
        # How many texts hold a word: the search picks the query's rarest words.
        op.execute(
            "CREATE VIRTUAL TABLE claim_text_fts_vocab USING fts5vocab(claim_text_fts, row)"
        )
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        "ALTER TABLE claim_text ADD COLUMN search_words tsvector "
        "GENERATED ALWAYS AS (to_tsvector('simple', normalized)) STORED"
    )
    op.execute("CREATE INDEX ix_claim_text_words ON claim_text USING gin (search_words)")
    op.execute(
        "CREATE INDEX ix_claim_text_trigram ON claim_text USING gin (normalized gin_trgm_ops)"
    )


def _fill_texts() -> None:
    """The texts of the claims already stored, 1,000 claims at a time."""
    conn = op.get_bind()
    claim = sa.table(
        "claim", sa.column("id"), sa.column("statement"), sa.column("original_quote")
    )
    claim_text = sa.table(
        "claim_text",
        sa.column("claim_id"),
        sa.column("field"),
        sa.column("text_hash"),
        sa.column("normalized"),
    )
    last = 0
    while True:
        batch = conn.execute(
            sa.select(claim.c.id, claim.c.statement, claim.c.original_quote)
            .where(claim.c.id > last)
            .order_by(claim.c.id)
            .limit(1000)
        ).all()
        if not batch:
            return
        rows = [row for found in batch for row in text_rows(found.id, found._mapping)]
        if rows:
            conn.execute(sa.insert(claim_text), rows)
        last = batch[-1].id


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS claim_text_fts_vocab")
        for name, _ in SQLITE_FTS:
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_after_{event}")
            op.execute(f"DROP TABLE IF EXISTS {name}")
    else:
        op.execute("DROP INDEX IF EXISTS ix_claim_text_trigram")
        op.execute("DROP INDEX IF EXISTS ix_claim_text_words")
    op.drop_index("ix_claim_match_state_id", table_name="claim_match")
    op.drop_index("ix_claim_match_other_id", table_name="claim_match")
    op.drop_table("claim_match")
    op.drop_index(op.f("ix_claim_text_text_hash"), table_name="claim_text")
    op.drop_table("claim_text")
