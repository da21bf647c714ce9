"""Import records (one claim each, its speaker, outlet and sources inline), the batch summary,
and the stored Idempotency-Key answers."""

from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.claims.models import MAX_APPEARANCES, AppearanceRole, ClaimStatus, Stance, Topic
from app.core.base import HttpUrl, LanguageTag, UtcDatetime
from app.outlets.models import OutletKind
from app.speakers.models import Alias, SpeakerKind

NDJSON_MEDIA_TYPE = "application/x-ndjson"


class ImportFormat(StrEnum):
    records = "records"  # ImportRecord objects (what the export writes)
    claimreview = "claimreview"  # schema.org ClaimReview JSON-LD


class OnError(StrEnum):
    stop = "stop"  # the whole batch is refused if any record fails
    skip = "skip"  # failed records are reported and left out; the rest lands


class SpeakerRef(BaseModel):
    """A speaker by external_id or name (aliases match); created from these fields if unknown."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    kind: SpeakerKind = SpeakerKind.person
    role: str | None = Field(default=None, max_length=200)
    affiliation: str | None = Field(default=None, max_length=200)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    aliases: list[Alias] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _named(self) -> Self:
        if self.name is None and self.external_id is None:
            raise ValueError("a speaker needs a name or an external_id")
        return self


class OutletRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    kind: OutletKind = OutletKind.other
    domain: str | None = Field(default=None, max_length=253)

    @model_validator(mode="after")
    def _named(self) -> Self:
        if self.name is None and self.external_id is None:
            raise ValueError("an outlet needs a name or an external_id")
        return self


class SourceRef(BaseModel):
    """Where the claim appeared: a source by external_id or url, created if unknown."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl | None = None
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    title: str | None = Field(default=None, max_length=500)
    outlet: OutletRef | None = None
    published_at: UtcDatetime | None = None
    role: AppearanceRole = AppearanceRole.report
    quote: str | None = Field(default=None, max_length=5000)

    @model_validator(mode="after")
    def _named(self) -> Self:
        if self.url is None and self.external_id is None:
            raise ValueError("a source needs a url or an external_id")
        return self


class EvidenceRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    stance: Stance = Stance.context
    url: HttpUrl | None = None
    note: str | None = Field(default=None, max_length=5000)


class ImportRecord(BaseModel):
    """One claim to upsert by ``external_id``."""

    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(min_length=1, max_length=200)
    statement: str = Field(min_length=1, max_length=5000)
    language: LanguageTag = "en"
    original_quote: str | None = Field(default=None, max_length=5000)
    original_language: LanguageTag | None = None
    claimed_at: UtcDatetime | None = None
    context: str | None = Field(default=None, max_length=500)
    place: str | None = Field(default=None, max_length=200)
    topics: list[Topic] = Field(default_factory=list, max_length=20)
    speaker: SpeakerRef | None = None
    outlet: OutletRef | None = None
    sources: list[SourceRef] = Field(default_factory=list, max_length=MAX_APPEARANCES)
    evidence: list[EvidenceRecord] = Field(default_factory=list, max_length=50)
    status: ClaimStatus | None = None
    verdict: str | None = Field(default=None, max_length=10000)

    @field_validator("sources", mode="before")
    @classmethod
    def _at_most_max_appearances(cls, value: Any) -> Any:
        # Before the items are validated: a list of thousands fails at once, naming the cap.
        if isinstance(value, list) and len(value) > MAX_APPEARANCES:
            raise ValueError(
                f"a claim holds at most {MAX_APPEARANCES} appearances; "
                f"this record lists {len(value)} sources"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _names_as_refs(cls, data: Any) -> Any:
        """``"speaker": "Name"`` is short for ``{"name": "Name"}`` (likewise outlet)."""
        if isinstance(data, dict):
            for key in ("speaker", "outlet"):
                if isinstance(data.get(key), str):
                    data = {**data, key: {"name": data[key]}}
        return data

    @model_validator(mode="after")
    def _verdict_rules(self) -> Self:
        if self.status is not None and self.status != ClaimStatus.unverified:
            if not (self.verdict and self.verdict.strip()):
                raise ValueError(f"status {self.status} needs a verdict")
        elif self.verdict:
            raise ValueError("a verdict needs a status other than unverified")
        return self


class RecordError(BaseModel):
    index: int
    external_id: str | None = None
    field: str | None = None
    message: str
    type: str


class ImportSummary(BaseModel):
    batch_id: str
    dry_run: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[RecordError] = Field(default_factory=list)


class IdempotencyKey(SQLModel, table=True):
    """The first answer to a POST with an Idempotency-Key, kept 24 h for its replays."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        Index("ix_idempotency_key_created_at", "created_at"),
        Index("uq_idempotency_key_caller_id", "caller_id", "key", unique=True),
    )

    id: int | None = SQLField(default=None, primary_key=True)
    # The caller: an API key id, or 0 for in-process tools.
    caller_id: int = SQLField(default=0)
    key: str = SQLField(max_length=200)
    fingerprint: str = SQLField(max_length=64)
    status_code: int
    response_body: bytes = SQLField(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime
