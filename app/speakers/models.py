"""Speakers: the people and bodies that make claims, with the other spellings of their names."""

from datetime import datetime

from pydantic import ConfigDict
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from app.core.base import enum_type
from app.core.paging import PageQuery
from app.tracked.models import Tracked
from app.vocabulary.enums import SpeakerKind
from app.vocabulary.types import Alias, CountryCode, UtcDatetime


class SpeakerBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    kind: SpeakerKind = Field(default=SpeakerKind.person, sa_type=enum_type(SpeakerKind, "kind"))
    role: str | None = Field(default=None, max_length=200, description="Role or title.")
    affiliation: str | None = Field(default=None, max_length=200)
    country: CountryCode | None = Field(
        default=None, max_length=2, description="ISO 3166-1 alpha-2 code."
    )
    external_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="Your id, for idempotent imports."
    )


class Speaker(SpeakerBase, Tracked, table=True):
    __tablename__ = "speaker"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class SpeakerAlias(SQLModel, table=True):
    """Search index of a speaker's name and aliases, folded; kept by the speaker service."""

    __tablename__ = "speaker_alias"

    id: int | None = Field(default=None, primary_key=True)
    speaker_id: int = Field(foreign_key="speaker.id", index=True, ondelete="CASCADE")
    alias: str = Field(max_length=200)
    folded: str = Field(max_length=200, index=True)


class SpeakerCreate(SpeakerBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    aliases: list[Alias] = Field(default_factory=list, max_length=50)


class SpeakerUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: SpeakerKind | None = None
    role: str | None = Field(default=None, max_length=200)
    affiliation: str | None = Field(default=None, max_length=200)
    country: CountryCode | None = None
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    aliases: list[Alias] | None = Field(default=None, max_length=50)


class SpeakerPublic(SpeakerBase):
    id: int
    aliases: list[str]
    version: int
    head_hash: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class SpeakerQuery(PageQuery):
    """GET /speakers filters; they combine (AND)."""

    q: str | None = Field(
        default=None, max_length=200, description="Matches name and aliases, any case or accents."
    )
    kind: SpeakerKind | None = None
    country: CountryCode | None = None
    updated_since: UtcDatetime | None = None
    sort: str = Field(
        default="name", max_length=20, description="name, updated_at, id; - for descending."
    )
