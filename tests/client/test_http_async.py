"""The async client against the real app, mirroring tests/client/test_http.py: in process through
httpx.ASGITransport (the async counterpart of TestClient; no mocks), and once over a socket
against a real uvicorn server."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from app.auth.actor import Role
from app.client import (
    AsyncClaimTrackerClient,
    ClientError,
    NotFound,
    PreconditionFailed,
    TooManyRequests,
    ValidationProblem,
)
from app.core.db import Database
from app.core.settings import Settings
from app.main import create_app
from app.schema.migrate import upgrade
from tests.client.scripted_server import AsyncCountingTransport
from tests.conftest import bearer, create_key, drop_pg_database, fresh_database_url, new_key_in
from tests.servers import Server, free_port, running_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def in_process(db: Database, settings: Settings, **overrides: Any) -> httpx.ASGITransport:
    """The app, built with these settings changed, on the test's database."""
    return httpx.ASGITransport(create_app(settings.model_copy(update=overrides), database=db))


@pytest.fixture
async def api(db: Database, settings: Settings) -> AsyncIterator[AsyncClaimTrackerClient]:
    async with AsyncClaimTrackerClient(
        "http://testserver",
        create_key(db, Role.editor),
        max_retries=2,
        backoff=0.001,
        transport=in_process(db, settings),
    ) as client:
        yield client


class TestProblems:
    async def test_a_missing_claim_is_not_found(self, api: AsyncClaimTrackerClient) -> None:
        with pytest.raises(NotFound) as caught:
            await api.get_claim(999_999)
        assert caught.value.status == 404
        assert caught.value.type.endswith("not-found")

    async def test_an_invalid_body_is_a_validation_problem_with_errors(
        self, api: AsyncClaimTrackerClient
    ) -> None:
        with pytest.raises(ValidationProblem) as caught:
            await api.create_claim({"statement": ""})
        assert caught.value.errors


class TestIfMatch:
    async def test_the_last_read_etag_is_sent(self, api: AsyncClaimTrackerClient) -> None:
        claim = await api.create_claim({"statement": "A claim."})
        await api.get_claim(claim["id"])
        assert (await api.update_claim(claim["id"], {"place": "Here"}))["version"] == 2
        assert (await api.update_claim(claim["id"], {"place": "There"}))["version"] == 3

    async def test_a_stale_etag_is_precondition_failed(
        self, api: AsyncClaimTrackerClient, db: Database, settings: Settings
    ) -> None:
        claim = await api.create_claim({"statement": "A claim."})
        await api.get_claim(claim["id"])
        async with httpx.AsyncClient(
            transport=in_process(db, settings),
            base_url="http://testserver",
            headers=bearer(create_key(db, Role.editor)),
        ) as other:
            await other.patch(
                f"/api/v1/claims/{claim['id']}", json={"place": "X"}, headers={"If-Match": '"v1"'}
            )
        with pytest.raises(PreconditionFailed):
            await api.update_claim(claim["id"], {"place": "Y"})


class TestIterators:
    async def test_iter_claims_follows_the_cursor(self, api: AsyncClaimTrackerClient) -> None:
        for n in range(5):
            await api.create_claim({"statement": f"Claim {n}."})
        assert len([claim async for claim in api.iter_claims(limit=2)]) == 5

    async def test_iter_changes_reads_the_feed(self, api: AsyncClaimTrackerClient) -> None:
        await api.create_claim({"statement": "One."})
        changes = [change async for change in api.iter_changes()]
        assert changes[-1]["entity_type"] == "claim"


class TestRetries:
    async def test_429_is_retried_then_raised_with_retry_after(
        self, db: Database, settings: Settings
    ) -> None:
        async with AsyncClaimTrackerClient(
            "http://testserver",
            create_key(db, Role.editor),
            max_retries=1,
            max_backoff=0.001,
            transport=in_process(db, settings, rate_limit_per_minute=1),
        ) as api:
            await api.http.get("/api/v1/claims")
            with pytest.raises(TooManyRequests) as caught:
                await api.get("/claims")
        response = caught.value.response
        assert int(response.headers["Retry-After"]) >= 1
        retry = response.extensions["retry"]
        assert retry.attempts_made == 1
        assert retry.elapsed_sleep <= 0.006  # Retry-After, capped at 6 x max_backoff

    async def test_the_export_is_retried_too(self, db: Database, settings: Settings) -> None:
        async with AsyncClaimTrackerClient(
            "http://testserver",
            create_key(db, Role.editor),
            max_retries=2,
            max_backoff=0.001,
            transport=in_process(db, settings, rate_limit_per_minute=1),
        ) as api:
            await api.http.get("/api/v1/claims")
            with pytest.raises(TooManyRequests) as caught:
                [chunk async for chunk in api.export("ndjson")]
        assert caught.value.response.extensions["retry"].attempts_made == 2

    async def test_connection_errors_are_retried_then_raised(self) -> None:
        transport = AsyncCountingTransport()
        url = f"http://127.0.0.1:{free_port()}"
        async with AsyncClaimTrackerClient(
            url, max_retries=2, backoff=0.001, transport=transport
        ) as api:
            with pytest.raises(ClientError):
                await api.get("/claims")
        assert transport.attempts == 3

    async def test_the_backoff_does_not_block_the_event_loop(self) -> None:
        transport = AsyncCountingTransport()
        # One retry, after 0.1 to 0.2 s: another task wakes after 0.05 s, in the middle of it.
        url = f"http://127.0.0.1:{free_port()}"
        async with AsyncClaimTrackerClient(
            url, max_retries=1, backoff=0.2, transport=transport
        ) as api:
            retrying = asyncio.create_task(api.get("/claims"))
            await asyncio.sleep(0.05)
            assert transport.attempts == 1
            assert not retrying.done()
            with pytest.raises(ClientError):
                await retrying
        assert transport.attempts == 2


@pytest.fixture
def server(backend: str, tmp_path: Path) -> Iterator[Server]:
    """A real server on an empty database of its own."""
    url = fresh_database_url(backend, tmp_path)
    upgrade(url)
    try:
        with running_server(url, api_key=new_key_in(url, "editor")) as running:
            yield running
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


@pytest.mark.slow
class TestOverASocket:
    async def test_import_then_read_back_and_export(self, server: Server) -> None:
        records = [{"external_id": f"async:{n}", "statement": f"Claim {n}."} for n in range(3)]
        async with AsyncClaimTrackerClient(server.base_url, server.api_key) as api:
            summary = await api.import_records(records)
            assert summary["created"] == 3, summary
            claims = [claim async for claim in api.iter_claims(limit=2)]
            assert len(claims) == 3
            claim = claims[0]
            await api.get_claim(claim["id"])
            evidence = {"title": "A report.", "stance": "refutes", "url": "https://example.org/r"}
            await api.add_evidence(claim["id"], evidence)
            verdict = "The report refutes it."
            verified = await api.set_status(
                claim["id"], status="false", verdict=verdict, reason="Refuted."
            )
            assert verified["status"] == "false"
            exported = b"".join([chunk async for chunk in api.export("ndjson")])
        lines = [orjson.loads(line) for line in exported.splitlines()]
        assert {line["external_id"] for line in lines} == {r["external_id"] for r in records}
