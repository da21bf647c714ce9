"""Shared model plumbing: the constraint naming convention, UTC time, page envelopes, and the
checked types every request model uses for ids and timestamps."""

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Generic, TypeVar

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints
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


# Ids and versions live in INTEGER columns, 32-bit on PostgreSQL: a larger number there is a
# database error, not a "not found". Every id and version the API takes is bounded by this, the
# same on SQLite, so both backends answer alike (422) and the OpenAPI document says so.
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
# revision.id is BIGINT on PostgreSQL (and SQLite's INTEGER is 64-bit): the change feed's cursor.
MAX_REVISION_ID = 2**63 - 1

# What a timestamp column can hold and hand back: Python's datetime range, less a day at each
# end. PostgreSQL returns timestamptz in the session's time zone, and psycopg cannot build a
# datetime for 9999-12-31T23:00Z seen from UTC+14 (nor 0001-01-01T00:00Z from UTC-5): such a
# stored value would make its row unreadable. A day of margin covers every zone.
EARLIEST_DATETIME = datetime(1, 1, 2, tzinfo=UTC)
LATEST_DATETIME = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
DATETIME_RANGE_MESSAGE = (
    "must lie between 0001-01-02T00:00:00Z and 9999-12-30T23:59:59.999999Z once converted to UTC"
)


def checked_utc(value: datetime) -> datetime:
    """``value`` in UTC, if the database can store it; naive values are taken as UTC.

    Compared before converting: converting 0001-01-01T00:00:00+05:00 to UTC overflows.
    """
    if value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST_DATETIME <= value <= LATEST_DATETIME:
        raise ValueError(f"The timestamp {DATETIME_RANGE_MESSAGE}.")
    return value.astimezone(UTC)


# Every timestamp a client sends (bodies, filters): a 422 naming the range instead of an
# OverflowError in the driver.
def refuse_numbers(value: object) -> object:
    """The document says an ISO 8601 string; pydantic alone would also take 0.5 or "0.5"
    (Unix seconds), which no client reading the document would send on purpose."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("A timestamp is an ISO 8601 string, like 2026-01-31T12:00:00Z.")
    return value


_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
UtcDatetime = Annotated[datetime, BeforeValidator(refuse_numbers), AfterValidator(checked_utc)]


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
