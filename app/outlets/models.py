"""Outlets: publishers and channels where claims appear or are reported."""

from datetime import datetime

from pydantic import ConfigDict
from sqlmodel import Field, SQLModel

from app.core.base import enum_type
from app.core.paging import PageQuery
from app.tracked.models import Tracked
from app.vocabulary.enums import OutletKind
from app.vocabulary.types import CountryCode, DomainName, LanguageTag, UtcDatetime


class OutletBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    kind: OutletKind = Field(default=OutletKind.other, sa_type=enum_type(OutletKind, "kind"))
    domain: DomainName | None = Field(default=None, max_length=253)
    country: CountryCode | None = Field(default=None, max_length=2)
    language: LanguageTag | None = Field(default=None, max_length=35, description="BCP 47 tag.")
    external_id: str | None = Field(default=None, min_length=1, max_length=200)


class Outlet(OutletBase, Tracked, table=True):
    __tablename__ = "outlet"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)


class OutletCreate(OutletBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]


class OutletUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: OutletKind | None = None
    domain: DomainName | None = Field(default=None, max_length=253)
    country: CountryCode | None = None
    language: LanguageTag | None = Field(default=None, max_length=35)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)


class OutletPublic(OutletBase):
    id: int
    version: int
    head_hash: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class OutletQuery(PageQuery):
    """GET /outlets filters; they combine (AND)."""

    q: str | None = Field(
        default=None, max_length=200, description="Matches name or domain, any case."
    )
    kind: OutletKind | None = None
    country: CountryCode | None = None
    updated_since: UtcDatetime | None = None
    sort: str = Field(
        default="name", max_length=20, description="name, updated_at, id; - for descending."
    )
