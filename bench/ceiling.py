"""The yardstick: a bare FastAPI ``async def`` endpoint, an 8-field response model, no database.

Served exactly like the app (uvicorn, one worker): ``uvicorn bench.ceiling:app``.
"""

from datetime import UTC, datetime

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
CREATED = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


class Item(BaseModel):
    id: int
    statement: str
    language: str
    status: str
    speaker_id: int | None
    topics: list[str]
    version: int
    created_at: datetime


@app.get("/items/{item_id}", response_model=Item)
async def read_item(item_id: int) -> Item:
    return Item(
        id=item_id,
        statement="A claim of about the usual length, said somewhere by someone.",
        language="en",
        status="unverified",
        speaker_id=7,
        topics=["energy", "prices"],
        version=1,
        created_at=CREATED,
    )


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
