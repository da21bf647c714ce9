"""Shared model plumbing: the constraint naming convention, UTC time, page envelopes and SQL
enum columns. The checked types every request model uses for ids and timestamps are wire vocabulary
(``app.vocabulary.types``)."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
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
