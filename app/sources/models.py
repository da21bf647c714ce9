"""Sources: one document or post (an article, a Telegram post, a video)."""

from datetime import datetime

from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from app.core.paging import PageQuery
from app.tracked.models import Tracked
from app.vocabulary.types import MAX_ID, DbId, HttpUrl, LanguageTag, UtcDatetime


class SourceBase(SQLModel):
    url: HttpUrl | None = Field(default=None, max_length=2000, description="Unique when set.")
    title: str | None = Field(default=None, max_length=500)
    outlet_id: int | None = Field(default=None, foreign_key="outlet.id", ge=1, le=MAX_ID)
    published_at: UtcDatetime | None = None
    language: LanguageTag | None = Field(default=None, max_length=35)
    archived_url: HttpUrl | None = Field(default=None, max_length=2000)
    excerpt: str | None = Field(default=None, max_length=5000)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)


class Source(SourceBase, Tracked, table=True):
    __tablename__ = "source"

    id: int | None = Field(default=None, primary_key=True)
    url: str | None = Field(default=None, max_length=2000, unique=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    outlet_id: int | None = Field(default=None, foreign_key="outlet.id", index=True)


class SourceCreate(SourceBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


class SourceUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    url: HttpUrl | None = Field(default=None, max_length=2000)
    title: str | None = Field(default=None, max_length=500)
    outlet_id: DbId | None = None
    published_at: UtcDatetime | None = None
    language: LanguageTag | None = Field(default=None, max_length=35)
    archived_url: HttpUrl | None = Field(default=None, max_length=2000)
    excerpt: str | None = Field(default=None, max_length=5000)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)


class SourcePublic(SourceBase):
    id: int
    version: int
    head_hash: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class SourceQuery(PageQuery):
    """GET /sources filters; they combine (AND)."""

    q: str | None = Field(default=None, max_length=200, description="Matches title or URL.")
    outlet_id: DbId | None = None
    language: str | None = Field(default=None, max_length=35)
    updated_since: UtcDatetime | None = None
    sort: str = Field(
        default="-id", max_length=20, description="published_at, updated_at, id; - for descending."
    )
