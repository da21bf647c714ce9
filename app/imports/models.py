"""The stored Idempotency-Key answers. The import records, the batch summary and the import
options are wire vocabulary (``app.vocabulary.records``, ``app.vocabulary.enums``)."""

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel


class IdempotencyKey(SQLModel, table=True):
    """The first answer to a POST with an Idempotency-Key, kept 24 h for its replays."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        Index("ix_idempotency_key_created_at", "created_at"),
        Index("uq_idempotency_key_caller_id", "caller_id", "key", unique=True),
    )

    id: int | None = SQLField(default=None, primary_key=True)
    # The caller: an API key id, or 0 for in-process tools.
    caller_id: int = SQLField(default=0)
    key: str = SQLField(max_length=200)
    fingerprint: str = SQLField(max_length=64)
    status_code: int
    response_body: bytes = SQLField(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime
