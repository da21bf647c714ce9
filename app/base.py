"""Shared model plumbing: the constraint naming convention, UTC time, page envelopes."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, StringConstraints
from sqlmodel import SQLModel

# Set before any table class is defined: SQLite batch migrations need named constraints.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Timezone-aware UTC; a naive value (SQLite hands some back that way) is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def enum_type(enum_class: type[StrEnum], name: str) -> sa.Enum:
    """A VARCHAR column with a CHECK constraint (no native PostgreSQL enum to migrate)."""
    return sa.Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in enum_class),
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


# Checked string types. (SQLModel's Field(regex=...) is silently ignored under pydantic 2, so the
# patterns live in the annotation.) A URL is kept exactly as given: it is also a uniqueness key.
URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*$"
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
DOMAIN_PATTERN = r"^([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
HttpUrl = Annotated[str, StringConstraints(pattern=URL_PATTERN, max_length=2000)]
LanguageTag = Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN, max_length=35)]
DomainName = Annotated[str, StringConstraints(pattern=DOMAIN_PATTERN, max_length=253)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
