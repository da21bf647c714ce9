"""The revision table: one append-only row per change of any tracked entity."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, BigInteger, Column, FetchedValue, Index, Integer, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.core.base import enum_type

# JSONB on PostgreSQL (indexable, compact); JSON text on SQLite. Hashes never read it back as JSON
# text, so JSONB's key reordering does not matter.
JSONType = JSON().with_variant(JSONB(), "postgresql")

# SQLite hands out ids only for an "INTEGER PRIMARY KEY" column.
RevisionId = BigInteger().with_variant(Integer(), "sqlite")

SCHEMA_VERSION = 1


class EntityType(StrEnum):
    claim = "claim"
    speaker = "speaker"
    outlet = "outlet"
    source = "source"


class RevisionAction(StrEnum):
    created = "created"
    updated = "updated"
    deleted = "deleted"
    restored = "restored"
    reverted = "reverted"


class Revision(SQLModel, table=True):
    __tablename__ = "revision"
    __table_args__ = (
        UniqueConstraint("entity_type", "entity_id", "version", name="uq_revision_entity_version"),
        Index("ix_revision_entity_recorded", "entity_type", "entity_id", "recorded_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(RevisionId, primary_key=True))
    entity_type: EntityType = Field(sa_type=enum_type(EntityType, "entity_type"))
    entity_id: int
    version: int
    action: RevisionAction = Field(sa_type=enum_type(RevisionAction, "action"))
    reverted_to: int | None = None
    recorded_at: datetime
    actor_key_id: int | None = None
    actor_name: str = Field(max_length=200)
    actor_role: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=2000)
    request_id: str | None = Field(default=None, max_length=128)
    changes: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    snapshot: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    schema_version: int
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str = Field(max_length=64)
    # Where the row sorts in the change feed, filled in by the database: on PostgreSQL the
    # writing transaction's id, or one past the newest completed transaction at insert if greater
    # (docs/history.md); on SQLite 0 (one writer at a time: id order is commit order).
    # Not hashed, not public.
    feed_xid: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=False, server_default=FetchedValue())
    )


class ActorPublic(BaseModel):
    key_id: int | None
    name: str
    role: str


class RevisionPublic(BaseModel):
    id: int
    entity_type: EntityType
    entity_id: int
    version: int
    action: RevisionAction
    reverted_to: int | None
    recorded_at: datetime
    actor: ActorPublic
    reason: str | None
    request_id: str | None
    changes: dict[str, Any]
    snapshot: dict[str, Any]
    schema_version: int
    prev_hash: str | None
    hash: str

    @classmethod
    def of(cls, revision: Revision) -> "RevisionPublic":
        assert revision.id is not None
        return cls(
            id=revision.id,
            entity_type=revision.entity_type,
            entity_id=revision.entity_id,
            version=revision.version,
            action=revision.action,
            reverted_to=revision.reverted_to,
            recorded_at=revision.recorded_at,
            actor=ActorPublic(
                key_id=revision.actor_key_id, name=revision.actor_name, role=revision.actor_role
            ),
            reason=revision.reason,
            request_id=revision.request_id,
            changes=revision.changes,
            snapshot=revision.snapshot,
            schema_version=revision.schema_version,
            prev_hash=revision.prev_hash,
            hash=revision.hash,
        )


class DiffPublic(BaseModel):
    entity_type: EntityType
    entity_id: int
    from_version: int
    to_version: int
    changes: dict[str, dict[str, Any]]


class VerifyProblem(BaseModel):
    entity_type: str
    entity_id: int
    version: int | None
    revision_id: int | None
    problem: str


class VerifyReport(BaseModel):
    ok: bool
    entities_checked: int
    revisions_checked: int
    first_broken: VerifyProblem | None
