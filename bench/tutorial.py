"""The yardstick for writes: a claim tracker's POST written the way the FastAPI and SQLModel
tutorials write one.

A plain ``def`` endpoint with a ``yield`` session dependency inserts a claim row and a revision
row (a JSON snapshot of the claim and its sha256 hash) in one transaction and commits; the
response model validates and serializes the answer. No API key, no If-Match, no reference
checks, no topic index: what any app that keeps a history must do at least. Served like the
app: ``TUTORIAL_DATABASE_URL=... uvicorn bench.tutorial:app``; the tables are created at
start-up. On SQLite: WAL, ``synchronous=FULL`` and a 15 s busy timeout, as the app's
defaults; pools sized as the app sizes its own (the tutorials' 5 + 10 starves at c=32,
../shared/PERFORMANCE.md).
"""

import hashlib
import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from sqlalchemy import JSON, Column, event
from sqlmodel import Field, Session, SQLModel, create_engine

DATABASE_URL = os.environ.get("TUTORIAL_DATABASE_URL", "sqlite:///tutorial.db")


def utcnow() -> datetime:
    return datetime.now(UTC)


class ClaimBase(SQLModel):
    statement: str = Field(min_length=1, max_length=5000)
    language: str = Field(default="en", max_length=35)
    speaker_id: int | None = None
    context: str | None = Field(default=None, max_length=500)


class Claim(ClaimBase, table=True):
    __tablename__ = "tutorial_claim"

    id: int | None = Field(default=None, primary_key=True)
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = "unverified"
    version: int = 1
    head_hash: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Revision(SQLModel, table=True):
    __tablename__ = "tutorial_revision"

    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="tutorial_claim.id", index=True)
    version: int
    action: str = "created"
    recorded_at: datetime = Field(default_factory=utcnow)
    snapshot: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    hash: str = Field(max_length=64)


class ClaimCreate(ClaimBase):
    topics: list[str] = Field(default_factory=list, max_length=20)


class ClaimPublic(ClaimBase):
    id: int
    topics: list[str]
    status: str
    version: int
    head_hash: str | None
    created_at: datetime
    updated_at: datetime


if DATABASE_URL.startswith("sqlite"):
    engine = create_engine(
        DATABASE_URL,
        connect_args={"check_same_thread": False, "timeout": 15},
        pool_size=32,
        max_overflow=8,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

else:
    engine = create_engine(DATABASE_URL, pool_size=32, max_overflow=16)


def get_session() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    SQLModel.metadata.create_all(engine)
    yield
    engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.post("/api/v1/claims", response_model=ClaimPublic, status_code=201)
def create_claim(claim: ClaimCreate, session: SessionDep) -> Claim:
    db_claim = Claim.model_validate(claim)
    session.add(db_claim)
    session.flush()  # the id, for the snapshot
    snapshot = ClaimPublic.model_validate(db_claim).model_dump(mode="json")
    canonical = json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    assert db_claim.id is not None
    session.add(Revision(claim_id=db_claim.id, version=1, snapshot=snapshot, hash=digest))
    db_claim.head_hash = digest
    session.commit()
    session.refresh(db_claim)
    return db_claim


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
