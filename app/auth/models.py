"""API keys: a caller, its role, and only a digest of its secret."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlmodel import Field, SQLModel

from app.core.base import enum_type


class KeyRole(StrEnum):
    """The roles a key can hold: every Role but ``system`` (in-process tools only)."""

    reader = "reader"
    checker = "checker"
    editor = "editor"
    admin = "admin"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    # The visible part of the key (`ct_<prefix>_...`): how a request finds its row.
    prefix: str = Field(max_length=16, unique=True, index=True)
    # SHA-256 hex of the whole key; the key itself is never stored.
    secret_hash: str = Field(max_length=64)
    role: KeyRole = Field(sa_type=enum_type(KeyRole, "role"))
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: KeyName
    role: KeyRole


class ApiKeyPublic(BaseModel):
    """What anyone may see of a key: never the secret, never its digest."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    role: KeyRole
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    secret: str  # the whole key, shown once
