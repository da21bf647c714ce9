"""Shared model plumbing: the constraint naming convention, UTC time, page envelopes and SQL
enum columns. The checked types every request model uses for ids and timestamps live in
``app.vocabulary.types`` (re-exported here)."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import SQLModel

# The checked types are wire vocabulary, shared with the client; re-exported here.
from app.vocabulary.types import MAX_ID as MAX_ID
from app.vocabulary.types import MAX_REVISION_ID as MAX_REVISION_ID
from app.vocabulary.types import CountryCode as CountryCode
from app.vocabulary.types import DbId as DbId
from app.vocabulary.types import DomainName as DomainName
from app.vocabulary.types import HttpUrl as HttpUrl
from app.vocabulary.types import LanguageTag as LanguageTag
from app.vocabulary.types import UtcDatetime as UtcDatetime
from app.vocabulary.types import checked_utc as checked_utc

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
