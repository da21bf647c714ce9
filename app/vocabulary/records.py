"""Import records (one claim each, its speaker, outlet and sources inline) and the batch
summary: what ``POST /imports`` takes and answers, and what ``claimtracker import`` checks
before it sends anything.

The record's claim fields are the claim's own (``app.vocabulary.claim``): a claim's create
fields without the id references, plus the references inline and the verdict.
"""

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.vocabulary.claim import (
    MAX_APPEARANCES,
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
from app.vocabulary.enums import AppearanceRole, ClaimStatus, OutletKind, SpeakerKind, Stance
from app.vocabulary.types import Alias, CountryCode, HttpUrl, UtcDatetime


class SpeakerRef(BaseModel):
    """A speaker by external_id or name (aliases match); created from these fields if unknown."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    external_id: ExternalId | None = None
    kind: SpeakerKind = SpeakerKind.person
    role: str | None = Field(default=None, max_length=200)
    affiliation: str | None = Field(default=None, max_length=200)
    country: CountryCode | None = None
    aliases: list[Alias] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _named(self) -> Self:
        if self.name is None and self.external_id is None:
            raise ValueError("a speaker needs a name or an external_id")
        return self


class OutletRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    external_id: ExternalId | None = None
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
    external_id: ExternalId | None = None
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

    external_id: ExternalId
    statement: Statement
    language: Language = "en"
    original_quote: OriginalQuote = None
    original_language: OriginalLanguage = None
    claimed_at: UtcDatetime | None = None
    context: Context = None
    place: Place = None
    topics: Topics = Field(default_factory=list)
    speaker: SpeakerRef | None = None
    outlet: OutletRef | None = None
    sources: list[SourceRef] = Field(default_factory=list, max_length=MAX_APPEARANCES)
    evidence: list[EvidenceRecord] = Field(default_factory=list, max_length=50)
    status: ClaimStatus | None = None
    verdict: Verdict = None

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


class LikelyDuplicate(BaseModel):
    """A stored claim a new record likely repeats."""

    claim_id: int
    score: float
    method: str
    matched_field: str
    linked: bool = False


class RecordDuplicates(BaseModel):
    """The likely duplicates of one record of the batch (``claim_id``: the claim it created,
    None when it was skipped)."""

    index: int
    external_id: str | None = None
    claim_id: int | None = None
    skipped: bool = False
    duplicates: list[LikelyDuplicate]


class ImportSummary(BaseModel):
    batch_id: str
    dry_run: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[RecordError] = Field(default_factory=list)
    duplicates: list[RecordDuplicates] = Field(default_factory=list)
