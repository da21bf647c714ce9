"""Claims, the evidence that bears on them, and where they appeared."""

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy import JSON, Column, Index, PrimaryKeyConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.base import enum_type
from app.core.paging import PageQuery
from app.history.schemas import Reason
from app.tracked.models import Tracked
from app.vocabulary.claim import (
    Context,
    ExternalId,
    Language,
    OriginalLanguage,
    OriginalQuote,
    Place,
    Statement,
    Topics,
    Verdict,
)
from app.vocabulary.enums import AppearanceRole, ClaimStatus, ReviewState, Stance
from app.vocabulary.types import MAX_ID, DbId, HttpUrl, UtcDatetime

# A rating on this side of the scale must point at evidence.
STATUSES_NEEDING_EVIDENCE = frozenset(
    {
        ClaimStatus.confirmed,
        ClaimStatus.mostly_true,
        ClaimStatus.mostly_false,
        ClaimStatus.misleading,
        ClaimStatus.false,
    }
)


class ClaimBase(SQLModel):
    statement: Statement = Field(description="In the desk's language.")
    language: Language = "en"
    original_quote: OriginalQuote = Field(default=None, description="Verbatim.")
    original_language: OriginalLanguage = None
    speaker_id: int | None = Field(default=None, foreign_key="speaker.id", ge=1, le=MAX_ID)
    outlet_id: int | None = Field(
        default=None,
        foreign_key="outlet.id",
        ge=1,
        le=MAX_ID,
        description="The cited outlet: where it was published or who reported it.",
    )
    claimed_at: UtcDatetime | None = Field(default=None, description="When it was said.")
    context: Context = Field(default=None, description="The occasion.")
    place: Place = None
    external_id: ExternalId | None = None


class Claim(ClaimBase, Tracked, table=True):
    __tablename__ = "claim"
    __table_args__ = (
        Index("ix_claim_status_id", "status", "id"),
        Index("ix_claim_speaker_id_id", "speaker_id", "id"),
        Index("ix_claim_outlet_id_id", "outlet_id", "id"),
        Index("ix_claim_claimed_at_id", "claimed_at", "id"),
        Index("ix_claim_updated_at_id", "updated_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: ClaimStatus = Field(
        default=ClaimStatus.unverified, sa_type=enum_type(ClaimStatus, "status")
    )
    review: ReviewState = Field(default=ReviewState.open, sa_type=enum_type(ReviewState, "review"))
    verdict: Verdict = Field(default=None, description="The rationale.")
    reviewed_at: datetime | None = None


class ClaimTopic(SQLModel, table=True):
    """Topic index for filtering; kept by the claim service from ``claim.topics``."""

    __tablename__ = "claim_topic"
    __table_args__ = (
        PrimaryKeyConstraint("claim_id", "topic"),
        Index("ix_claim_topic_topic_claim_id", "topic", "claim_id"),
    )

    claim_id: int = Field(foreign_key="claim.id", ondelete="CASCADE")
    topic: str = Field(max_length=64)


class Evidence(SQLModel, table=True):
    __tablename__ = "evidence"

    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="claim.id", index=True)
    url: str | None = Field(default=None, max_length=2000)
    source_id: int | None = Field(default=None, foreign_key="source.id", index=True)
    title: str = Field(max_length=500)
    stance: Stance = Field(sa_type=enum_type(Stance, "stance"))
    note: str | None = Field(default=None, max_length=5000)
    added_by: str = Field(max_length=200)
    created_at: datetime


class Appearance(SQLModel, table=True):
    __tablename__ = "appearance"
    __table_args__ = (UniqueConstraint("claim_id", "source_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="claim.id", index=True)
    source_id: int = Field(foreign_key="source.id", index=True)
    role: AppearanceRole = Field(sa_type=enum_type(AppearanceRole, "role"))
    quote: str | None = Field(default=None, max_length=5000)
    created_at: datetime


# --- request and response models ------------------------------------------------------------


class ClaimCreate(ClaimBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    topics: Topics = Field(default_factory=list)


class ClaimUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    statement: Statement | None = None
    language: Language | None = None
    original_quote: OriginalQuote = None
    original_language: OriginalLanguage = None
    speaker_id: DbId | None = None
    outlet_id: DbId | None = None
    claimed_at: UtcDatetime | None = None
    context: Context = None
    place: Place = None
    topics: Topics | None = None
    external_id: ExternalId | None = None


class ClaimRevertable(ClaimUpdate):
    """What a revert brings back: the editable fields and the verdict fields."""

    status: ClaimStatus | None = None
    review: ReviewState | None = None
    verdict: Verdict = None
    reviewed_at: UtcDatetime | None = None


class ClaimPublic(ClaimBase):
    id: int
    topics: list[str]
    status: ClaimStatus
    review: ReviewState
    verdict: str | None
    reviewed_at: datetime | None
    version: int
    head_hash: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


def _one_of_present(**field_schemas: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema for "at least one of these fields, with a real value": what a model
    validator checks, stated in the OpenAPI document so that clients (and schemathesis) see it."""
    return {
        "anyOf": [
            {"required": [name], "properties": {name: schema}}
            for name, schema in field_schemas.items()
        ]
    }


class StatusChange(BaseModel):
    """POST /claims/{id}/status: a verdict, a review move, or both; always with a reason."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_one_of_present(
            status={"not": {"type": "null"}},
            review={"not": {"type": "null"}},
            verdict={"type": "string"},
        ),
    )

    status: ClaimStatus | None = None
    review: ReviewState | None = None
    verdict: str | None = Field(default=None, min_length=1, max_length=10000)
    reason: Reason

    @model_validator(mode="after")
    def _says_something(self) -> Self:
        if self.status is None and self.review is None and self.verdict is None:
            raise ValueError("Give a status, a review state or a verdict.")
        return self


class EvidenceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_one_of_present(
            url={"type": "string"},
            source_id={"type": "integer"},
            note={"type": "string", "pattern": r"\S"},
        ),
    )

    title: str = Field(min_length=1, max_length=500)
    stance: Stance
    url: HttpUrl | None = Field(default=None, max_length=2000)
    source_id: DbId | None = None
    note: str | None = Field(default=None, max_length=5000)

    @model_validator(mode="after")
    def _points_somewhere(self) -> Self:
        if self.url is None and self.source_id is None and not (self.note and self.note.strip()):
            raise ValueError("Evidence needs a url, a source_id, or a note saying where it is.")
        return self


class EvidenceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=500)
    stance: Stance | None = None
    url: HttpUrl | None = Field(default=None, max_length=2000)
    source_id: DbId | None = None
    note: str | None = Field(default=None, max_length=5000)


class EvidencePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    claim_id: int
    title: str
    stance: Stance
    url: str | None
    source_id: int | None
    note: str | None
    added_by: str
    created_at: datetime


class AppearanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_id: DbId
    role: AppearanceRole = AppearanceRole.report
    quote: str | None = Field(default=None, max_length=5000)


class AppearancePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    claim_id: int
    source_id: int
    role: AppearanceRole
    quote: str | None
    created_at: datetime


class ClaimAsOf(ClaimPublic):
    """A claim as its history recorded it, with its evidence and appearances at that time."""

    evidence: list[dict[str, Any]] = []
    appearances: list[dict[str, Any]] = []


class ClaimQuery(PageQuery):
    """GET /claims filters; they combine (AND)."""

    status: ClaimStatus | None = None
    review: ReviewState | None = None
    speaker_id: DbId | None = None
    outlet_id: DbId | None = None
    topic: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=35)
    q: str | None = Field(
        default=None, max_length=500, description="Words in the statement, quote or verdict."
    )
    claimed_after: UtcDatetime | None = None
    claimed_before: UtcDatetime | None = None
    updated_since: UtcDatetime | None = None
    sort: str = Field(
        default="-id", max_length=20, description="id, claimed_at, updated_at; - for descending."
    )
