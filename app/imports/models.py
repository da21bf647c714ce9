"""The stored Idempotency-Key answers. The import records, the batch summary and the import
options are wire vocabulary (``app.vocabulary``), re-exported here under their old names."""

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.vocabulary.enums import ImportFormat as ImportFormat
from app.vocabulary.enums import OnError as OnError
from app.vocabulary.formats import NDJSON_MEDIA_TYPE as NDJSON_MEDIA_TYPE
from app.vocabulary.records import EvidenceRecord as EvidenceRecord
from app.vocabulary.records import ImportRecord as ImportRecord
from app.vocabulary.records import ImportSummary as ImportSummary
from app.vocabulary.records import OutletRef as OutletRef
from app.vocabulary.records import RecordError as RecordError
from app.vocabulary.records import SourceRef as SourceRef
from app.vocabulary.records import SpeakerRef as SpeakerRef


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
