"""What every tracked entity shares: version, head hash, timestamps, soft delete.

The version column doubles as SQLAlchemy's ``version_id_col`` with the generator off: the
service sets the next version itself, and every UPDATE is issued as
``... WHERE id = :id AND version = :expected``; zero matched rows raise ``StaleDataError``.
"""

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

# The columns the ledger sets; never part of a snapshot.
TRACKING_FIELDS = frozenset({"id", "version", "head_hash", "created_at", "updated_at"})


class Tracked(SQLModel):
    version: int = Field(default=0)
    head_hash: str | None = Field(default=None, max_length=64)
    # Set by history.service.record before the row is first written.
    created_at: datetime = Field(default=None, nullable=False)
    updated_at: datetime = Field(default=None, nullable=False)
    deleted_at: datetime | None = Field(default=None)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        table = cls.__table__  # type: ignore[attr-defined]
        return {"version_id_col": table.c.version, "version_id_generator": False}


TrackedT = TypeVar("TrackedT", bound=Tracked)


def tracked_tables() -> frozenset[str]:
    """The table names of every tracked model defined so far."""
    return frozenset(model.__tablename__ for model in Tracked.__subclasses__())  # type: ignore[misc]
