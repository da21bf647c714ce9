"""Claims, the evidence that bears on them, and where they appeared."""

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
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
        Index("ix_claim_reviewed_at_id", "reviewed_at", "id"),
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


# --- expand: the references a claim read can embed ---------------------------------------------
# What the list may embed (one statement per kind for a whole page) and what a claim by id may
# (its evidence and appearances too: unbounded lists, not fit for a page of 50 claims).
LIST_EXPANSIONS = ("speaker", "outlet")
CLAIM_EXPANSIONS = ("speaker", "outlet", "evidence", "appearances")
MAX_EXPAND_VALUES = 10  # repeated parameters
MAX_EXPAND_LENGTH = 100  # one value


class _ExpandRule:
    """One ``expand`` value: names from ``allowed``, comma-separated. The OpenAPI pattern and
    the check are the same rule, so a value the document allows is never refused."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed
        names = "|".join(allowed)
        self.rule = re.compile(f"(?:{names})(?:,(?:{names}))*")
        self.schema = {
            "type": "string",
            "pattern": f"^{self.rule.pattern}$",
            "maxLength": MAX_EXPAND_LENGTH,
        }

    def __call__(self, value: str) -> str:
        if not self.rule.fullmatch(value):
            names = value.split(",")
            unknown = sorted({name for name in names if name and name not in self.allowed})
            got = f"unknown {', '.join(repr(name) for name in unknown)}" if unknown else value
            raise ValueError(
                f"expand takes {', '.join(self.allowed)} (comma-separated or repeated); got {got}."
            )
        return value


def _one_or_many(value: object) -> object:
    # The fast list route validates the query string as a dict: one value is a bare string.
    return [value] if isinstance(value, str) else value


_LIST_RULE = _ExpandRule(LIST_EXPANSIONS)
_CLAIM_RULE = _ExpandRule(CLAIM_EXPANSIONS)
_EXPAND_LENGTH = StringConstraints(max_length=MAX_EXPAND_LENGTH)
_ListExpandValue = Annotated[
    str, _EXPAND_LENGTH, AfterValidator(_LIST_RULE), WithJsonSchema(_LIST_RULE.schema)
]
_ClaimExpandValue = Annotated[
    str, _EXPAND_LENGTH, AfterValidator(_CLAIM_RULE), WithJsonSchema(_CLAIM_RULE.schema)
]
ListExpand = Annotated[list[_ListExpandValue], BeforeValidator(_one_or_many)]
ClaimExpand = Annotated[list[_ClaimExpandValue], BeforeValidator(_one_or_many)]
EXPAND_DESCRIPTION = (
    "References to embed next to the *_id fields, comma-separated or repeated: {}. Unknown "
    "names are refused (422)."
)


def expansions(values: Sequence[str]) -> frozenset[str]:
    """The names a validated ``expand`` asks for (``["speaker,outlet"]`` → both)."""
    return frozenset(name for value in values for name in value.split(","))


class ClaimListQuery(ClaimQuery):
    """GET /claims: the filters, and the references to embed in each claim."""

    expand: ListExpand = Field(
        default_factory=list,
        max_length=MAX_EXPAND_VALUES,
        description=EXPAND_DESCRIPTION.format(", ".join(LIST_EXPANSIONS)),
    )
