"""initial schema: speakers, outlets, sources, claims, evidence, appearances, revisions

Besides the tables: full-text search (SQLite FTS5 / PostgreSQL tsvector) and the triggers
that make the revision table append-only on both backends.

Revision ID: d98d7f071bad
Revises: 
Create Date: 2026-11-23 07:37:50.790733
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = 'd98d7f071bad'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('outlet',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('head_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sa.Enum('wire', 'newspaper', 'broadcaster', 'online', 'social_platform', 'messaging', 'government_channel', 'company', 'other', name='kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('domain', sqlmodel.sql.sqltypes.AutoString(length=253), nullable=True),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=35), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outlet')),
    sa.UniqueConstraint('external_id', name=op.f('uq_outlet_external_id'))
    )
    op.create_table('revision',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entity_type', sa.Enum('claim', 'speaker', 'outlet', 'source', name='entity_type', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('action', sa.Enum('created', 'updated', 'deleted', 'restored', 'reverted', name='action', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('reverted_to', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor_key_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('actor_role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('changes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('snapshot', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('schema_version', sa.Integer(), nullable=False),
    sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_revision')),
    sa.UniqueConstraint('entity_type', 'entity_id', 'version', name='uq_revision_entity_version')
    )
    with op.batch_alter_table('revision', schema=None) as batch_op:
        batch_op.create_index('ix_revision_entity_recorded', ['entity_type', 'entity_id', 'recorded_at'], unique=False)

    op.create_table('speaker',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('head_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sa.Enum('person', 'organization', 'government', 'military', 'group', 'unknown', name='kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('affiliation', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('aliases', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_speaker')),
    sa.UniqueConstraint('external_id', name=op.f('uq_speaker_external_id'))
    )
    op.create_table('claim',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('head_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('statement', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=35), nullable=False),
    sa.Column('original_quote', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=True),
    sa.Column('original_language', sqlmodel.sql.sqltypes.AutoString(length=35), nullable=True),
    sa.Column('speaker_id', sa.Integer(), nullable=True),
    sa.Column('outlet_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('context', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('place', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('unverified', 'confirmed', 'mostly_true', 'mixed', 'misleading', 'mostly_false', 'false', 'unproven', 'not_checkable', name='status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('review', sa.Enum('open', 'in_review', 'settled', name='review', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=10000), nullable=True),
    sa.Column('reviewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['outlet_id'], ['outlet.id'], name=op.f('fk_claim_outlet_id_outlet')),
    sa.ForeignKeyConstraint(['speaker_id'], ['speaker.id'], name=op.f('fk_claim_speaker_id_speaker')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim')),
    sa.UniqueConstraint('external_id', name=op.f('uq_claim_external_id'))
    )
    with op.batch_alter_table('claim', schema=None) as batch_op:
        batch_op.create_index('ix_claim_claimed_at_id', ['claimed_at', 'id'], unique=False)
        batch_op.create_index('ix_claim_outlet_id_id', ['outlet_id', 'id'], unique=False)
        batch_op.create_index('ix_claim_speaker_id_id', ['speaker_id', 'id'], unique=False)
        batch_op.create_index('ix_claim_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_claim_updated_at_id', ['updated_at', 'id'], unique=False)

    op.create_table('source',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('head_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('published_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=35), nullable=True),
    sa.Column('archived_url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('excerpt', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=True),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outlet_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['outlet_id'], ['outlet.id'], name=op.f('fk_source_outlet_id_outlet')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source')),
    sa.UniqueConstraint('external_id', name=op.f('uq_source_external_id')),
    sa.UniqueConstraint('url', name=op.f('uq_source_url'))
    )
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_source_outlet_id'), ['outlet_id'], unique=False)

    op.create_table('speaker_alias',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('speaker_id', sa.Integer(), nullable=False),
    sa.Column('alias', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('folded', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.ForeignKeyConstraint(['speaker_id'], ['speaker.id'], name=op.f('fk_speaker_alias_speaker_id_speaker'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_speaker_alias'))
    )
    with op.batch_alter_table('speaker_alias', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_speaker_alias_folded'), ['folded'], unique=False)
        batch_op.create_index(batch_op.f('ix_speaker_alias_speaker_id'), ['speaker_id'], unique=False)

    op.create_table('appearance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('origin', 'report', 'repost', name='role', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('quote', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_appearance_claim_id_claim')),
    sa.ForeignKeyConstraint(['source_id'], ['source.id'], name=op.f('fk_appearance_source_id_source')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appearance')),
    sa.UniqueConstraint('claim_id', 'source_id', 'role', name=op.f('uq_appearance_claim_id'))
    )
    with op.batch_alter_table('appearance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appearance_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appearance_source_id'), ['source_id'], unique=False)

    op.create_table('claim_topic',
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_claim_topic_claim_id_claim'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('claim_id', 'topic', name=op.f('pk_claim_topic'))
    )
    with op.batch_alter_table('claim_topic', schema=None) as batch_op:
        batch_op.create_index('ix_claim_topic_topic_claim_id', ['topic', 'claim_id'], unique=False)

    op.create_table('evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('stance', sa.Enum('supports', 'refutes', 'context', name='stance', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=True),
    sa.Column('added_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_evidence_claim_id_claim')),
    sa.ForeignKeyConstraint(['source_id'], ['source.id'], name=op.f('fk_evidence_source_id_source')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence'))
    )
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_source_id'), ['source_id'], unique=False)


    create_database_only_objects()

def downgrade() -> None:
    drop_database_only_objects()
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_source_id'))
        batch_op.drop_index(batch_op.f('ix_evidence_claim_id'))

    op.drop_table('evidence')
    with op.batch_alter_table('claim_topic', schema=None) as batch_op:
        batch_op.drop_index('ix_claim_topic_topic_claim_id')

    op.drop_table('claim_topic')
    with op.batch_alter_table('appearance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appearance_source_id'))
        batch_op.drop_index(batch_op.f('ix_appearance_claim_id'))

    op.drop_table('appearance')
    with op.batch_alter_table('speaker_alias', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_speaker_alias_speaker_id'))
        batch_op.drop_index(batch_op.f('ix_speaker_alias_folded'))

    op.drop_table('speaker_alias')
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_source_outlet_id'))

    op.drop_table('source')
    with op.batch_alter_table('claim', schema=None) as batch_op:
        batch_op.drop_index('ix_claim_updated_at_id')
        batch_op.drop_index('ix_claim_status_id')
        batch_op.drop_index('ix_claim_speaker_id_id')
        batch_op.drop_index('ix_claim_outlet_id_id')
        batch_op.drop_index('ix_claim_claimed_at_id')

    op.drop_table('claim')
    op.drop_table('speaker')
    with op.batch_alter_table('revision', schema=None) as batch_op:
        batch_op.drop_index('ix_revision_entity_recorded')

    op.drop_table('revision')
    op.drop_table('outlet')


REVISION_IS_APPEND_ONLY = "revision is append-only: history is never updated or deleted"


def create_database_only_objects() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE claim_fts USING fts5(statement, original_quote, verdict, "
            "content='claim', content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER claim_fts_after_insert AFTER INSERT ON claim BEGIN "
            "INSERT INTO claim_fts(rowid, statement, original_quote, verdict) "
            "VALUES (new.id, new.statement, new.original_quote, new.verdict); END"
        )
        op.execute(
            "CREATE TRIGGER claim_fts_after_delete AFTER DELETE ON claim BEGIN "
            "INSERT INTO claim_fts(claim_fts, rowid, statement, original_quote, verdict) "
            "VALUES ('delete', old.id, old.statement, old.original_quote, old.verdict); END"
        )
        op.execute(
            "CREATE TRIGGER claim_fts_after_update AFTER UPDATE OF statement, original_quote, "
            "verdict ON claim BEGIN "
            "INSERT INTO claim_fts(claim_fts, rowid, statement, original_quote, verdict) "
            "VALUES ('delete', old.id, old.statement, old.original_quote, old.verdict); "
            "INSERT INTO claim_fts(rowid, statement, original_quote, verdict) "
            "VALUES (new.id, new.statement, new.original_quote, new.verdict); END"
        )
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER revision_no_{event.lower()} BEFORE {event} ON revision "
                f"BEGIN SELECT RAISE(ABORT, '{REVISION_IS_APPEND_ONLY}'); END"
            )
        return
    op.execute(
        "ALTER TABLE claim ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
        "to_tsvector('simple', coalesce(statement, '') || ' ' || coalesce(original_quote, '') "
        "|| ' ' || coalesce(verdict, ''))) STORED"
    )
    op.execute("CREATE INDEX ix_claim_search_vector ON claim USING gin (search_vector)")
    op.execute(
        "CREATE FUNCTION revision_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{REVISION_IS_APPEND_ONLY}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER revision_append_only BEFORE UPDATE OR DELETE ON revision "
        "FOR EACH ROW EXECUTE FUNCTION revision_append_only()"
    )
    op.execute(
        "CREATE TRIGGER revision_no_truncate BEFORE TRUNCATE ON revision "
        "FOR EACH STATEMENT EXECUTE FUNCTION revision_append_only()"
    )


def drop_database_only_objects() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in (
            "claim_fts_after_insert",
            "claim_fts_after_delete",
            "claim_fts_after_update",
            "revision_no_update",
            "revision_no_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS claim_fts")
        return
    op.execute("DROP TRIGGER IF EXISTS revision_no_truncate ON revision")
    op.execute("DROP TRIGGER IF EXISTS revision_append_only ON revision")
    op.execute("DROP FUNCTION IF EXISTS revision_append_only()")
    op.execute("DROP INDEX IF EXISTS ix_claim_search_vector")
    op.execute("ALTER TABLE claim DROP COLUMN IF EXISTS search_vector")
