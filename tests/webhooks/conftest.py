"""A desk with webhooks: a migrated database of the test's own (real commits, the outbox
trigger fires as in production), the app on it, and a dispatcher the test drives."""

import asyncio
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient` is deprecated"
    )
    from starlette.testclient import TestClient

from app.auth.actor import Role
from app.core.db import Database, make_engine
from app.core.settings import Settings
from app.main import create_app
from app.webhooks import queue
from app.webhooks.dispatcher import Dispatcher
from tests.conftest import bearer, create_key
from tests.webhooks.receiver import Receiver, running_receiver

HOOKS = "/api/v1/webhooks"


@dataclass
class Desk:
    client: TestClient
    database: Database
    settings: Settings

    def dispatcher(self, **overrides: Any) -> Dispatcher:
        return Dispatcher(self.database, self.settings.model_copy(update=overrides))

    def drain(self, timeout: float = 30.0, **overrides: Any) -> None:
        """Send everything due now, with a dispatcher of these settings. On PostgreSQL a
        transaction of another test on the same server can hold the feed's watermark (and so
        the deliveries) back for a moment: drain until nothing due is left."""

        async def drain() -> None:
            dispatcher = self.dispatcher(**overrides)
            try:
                await dispatcher.drain()
            finally:
                await dispatcher.stop()

        deadline = time.monotonic() + timeout
        while True:
            asyncio.run(drain())
            if not self.anything_due():
                return
            assert time.monotonic() < deadline, "deliveries stayed held back"
            time.sleep(0.05)

    def anything_due(self) -> bool:
        now = datetime.now(UTC)
        with self.database.engine.connect() as conn:
            if queue.any_due(conn, now):
                return True
            # PostgreSQL: due, but held back by a write transaction in flight on the server.
            held = queue._heads(conn, now, 1, held=True)
            return conn.dialect.name == "postgresql" and conn.execute(held).first() is not None

    def drain_until(self, done: Callable[[], bool], timeout: float = 20.0) -> None:
        """Drain again and again (retries come due) until ``done()``."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "the deliveries did not arrive in time"
            self.drain()
            time.sleep(0.05)

    def endpoint(self, receiver: Receiver, events: list[str] | None = None) -> dict[str, Any]:
        response = self.client.post(HOOKS, json={"url": receiver.url, "events": events or ["*"]})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def claim(self, statement: str = "The river is dry.") -> dict[str, Any]:
        response = self.client.post("/api/v1/claims", json={"statement": statement})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def scalar(self, sql: str) -> Any:
        with self.database.engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()


@pytest.fixture
def desk(migrated_database_url: str) -> Iterator[Desk]:
    settings = Settings(
        database_url=migrated_database_url,
        pool_size=5,
        webhook_allow_private_targets=True,
        webhook_retry_schedule_seconds=[0.2, 0.2, 0.2],
        webhook_poll_seconds=0.05,
        webhook_timeout_seconds=5,
        webhook_dispatch=False,
        require_if_match=False,
    )
    database = Database(make_engine(migrated_database_url, settings), settings=settings)
    app = create_app(settings, database=database)
    headers = bearer(create_key(database, Role.admin))
    with TestClient(app, raise_server_exceptions=True, headers=headers) as client:
        yield Desk(client, database, settings)
    asyncio.run(database.close())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver
