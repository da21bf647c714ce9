"""Similar claims: the normalised texts the matching searches, the pairs the desk acts on, and
the request and response bodies of the matching routes."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.core.base import enum_type
from app.core.paging import PageQuery
from app.history.schemas import Reason
from app.vocabulary.claim import Language, Statement
from app.vocabulary.types import DbId


class MatchedField(StrEnum):
    statement = "statement"
    original_quote = "original_quote"


class MatchState(StrEnum):
    suggested = "suggested"  # found by the matching; nobody has looked yet
    confirmed = "confirmed"  # the desk linked the two claims
    rejected = "rejected"  # the desk said they differ: never suggested again


class MatchRelation(StrEnum):
    duplicate = "duplicate"  # the same claim, checked once
    related = "related"  # about the same thing, not the same claim


class ClaimText(SQLModel, table=True):
    """A claim's statement or original quote in its matching form (``normalize``), and the
    hash of it: kept by the claim service on every write that sets either field. The full-text
    indexes of the matching (FTS5 word and trigram on SQLite, tsvector and pg_trgm on
    PostgreSQL) are built on ``normalized`` by the migration."""

    __tablename__ = "claim_text"
    __table_args__ = (UniqueConstraint("claim_id", "field"),)

    id: int | None = SQLField(default=None, primary_key=True)
    claim_id: int = SQLField(foreign_key="claim.id", ondelete="CASCADE")
    field: MatchedField = SQLField(sa_type=enum_type(MatchedField, "field"))
    text_hash: str = SQLField(max_length=64, index=True)
    normalized: str = SQLField(sa_column=Column(Text, nullable=False))


class ClaimMatch(SQLModel, table=True):
    """Two claims the matching paired, and what the desk made of them. The pair is unordered
    (``claim_id`` < ``other_id``) and unique: a rejected pair stays, so it is never suggested
    again. A merge confirms the pair and names the survivor (``merged_into_id``)."""

    __tablename__ = "claim_match"
    __table_args__ = (
        UniqueConstraint("claim_id", "other_id"),
        CheckConstraint("claim_id < other_id", name="ordered_pair"),
        Index("ix_claim_match_other_id", "other_id"),
        Index("ix_claim_match_state_id", "state", "id"),
    )

    id: int | None = SQLField(default=None, primary_key=True)
    claim_id: int = SQLField(foreign_key="claim.id")
    other_id: int = SQLField(foreign_key="claim.id")
    state: MatchState = SQLField(sa_type=enum_type(MatchState, "state"))
    relation: MatchRelation | None = SQLField(
        default=None, sa_type=enum_type(MatchRelation, "relation")
    )
    merged_into_id: int | None = SQLField(default=None, foreign_key="claim.id")
    method: str = SQLField(max_length=40)
    score: float
    matched_field: MatchedField = SQLField(sa_type=enum_type(MatchedField, "matched_field"))
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = SQLField(default=None, max_length=200)
    reason: str | None = SQLField(default=None, max_length=2000)


class MatchCursor(SQLModel, table=True):
    """How far the matcher has followed the change feed (one row, ``id`` 1): the last revision
    whose page it has matched the new claims of (app/matching/suggestions.py)."""

    __tablename__ = "match_cursor"

    id: int = SQLField(default=1, primary_key=True)
    revision_id: int = SQLField(sa_column=Column(BigInteger, nullable=False))


# --- request and response bodies --------------------------------------------------------------


class SimilarQuery(BaseModel):
    """POST /claims/similar: a statement not (yet) stored."""

    model_config = ConfigDict(extra="forbid")

    statement: Statement
    language: Language = "en"
    limit: int = Field(default=5, ge=1, le=50)


class SimilarLimit(BaseModel):
    limit: int = Field(default=5, ge=1, le=50)


class SimilarItem(BaseModel):
    claim: dict[str, Any] = Field(description="The stored claim, as GET /claims/{id} reads it.")
    score: float = Field(ge=0, le=1)
    method: str = Field(description="exact (same normalised text), bm25 or trigram candidates.")
    matched_field: MatchedField


class SimilarPage(BaseModel):
    items: list[SimilarItem]


class MatchPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    claim_id: int
    other_id: int
    state: MatchState
    relation: MatchRelation | None
    merged_into_id: int | None
    method: str
    score: float
    matched_field: MatchedField
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None


class MatchQuery(PageQuery):
    state: MatchState | None = None
    claim_id: DbId | None = Field(default=None, description="Pairs that include this claim.")


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    relation: MatchRelation = MatchRelation.duplicate
    reason: Reason | None = None


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: DbId = Field(description="The claim that survives.")
    into_version: int | None = Field(
        default=None,
        ge=1,
        description="The survivor's version last read (its ETag's number): 412 if it changed.",
    )
    reason: Reason
