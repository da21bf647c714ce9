"""Every database failure answers the same 503 problem+json with Retry-After, on the driver
fast path (GET a claim by id: the async read pool), the thread-pool reads (lists) and the ORM
writes; each failure provoked for real on a real PostgreSQL."""

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from app.core.settings import Settings
from app.main import create_app
from app.schema.migrate import upgrade
from tests.conftest import PG_URL, bearer, create_pg_database, drop_pg_database, new_key_in
from tests.servers import free_port

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not PG_URL, reason="needs CLAIMS_TEST_PG_URL"),
]

CLAIMS = "/api/v1/claims"
CLAIM = {"statement": "The river rose two metres in a night.", "language": "en"}


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    url = create_pg_database("claims_unavailable")
    upgrade(url)
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="module")
def key(database_url: str) -> str:
    return new_key_in(database_url)


@pytest.fixture(scope="module")
def claim_id(database_url: str, key: str) -> int:
    with served(database_url, key) as client:
        response = client.post(CLAIMS, json=CLAIM)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


@contextmanager
def served(url: str, key: str | None = None, **settings: Any) -> Iterator[TestClient]:
    """The app with its own pools (as a worker opens them): a small budget, a short wait."""
    options = {"db_max_connections": 8, "db_pool_timeout_seconds": 0.3, **settings}
    app = create_app(Settings(database_url=url, require_if_match=False, **options))
    headers = bearer(key) if key else {}
    with TestClient(app, raise_server_exceptions=False, headers=headers) as client:
        yield client


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"] == "urn:claimtracker:problem:database-unavailable"


class TestPoolsExhausted:
    def test_get_by_id_and_lists_wait_a_bounded_time_for_the_read_pool_then_answer_503(
        self, database_url: str, key: str, claim_id: int
    ) -> None:
        with served(database_url, key) as client:
            pool = client.app.state.database._read_pool  # type: ignore[attr-defined]
            assert pool is not None
            assert client.portal is not None
            held = [client.portal.call(pool.getconn) for _ in range(pool.max_size)]
            try:
                assert_unavailable(client.get(f"{CLAIMS}/{claim_id}"))
                assert_unavailable(client.get(CLAIMS))
            finally:
                for conn in held:
                    client.portal.call(pool.putconn, conn)
            assert client.get(f"{CLAIMS}/{claim_id}").status_code == 200
            assert client.get(CLAIMS).status_code == 200

    def test_writes_and_exports_wait_a_bounded_time_for_the_engine_pool_then_answer_503(
        self, database_url: str, key: str
    ) -> None:
        with served(database_url, key) as client:
            engine = client.app.state.database.engine  # type: ignore[attr-defined]
            with ExitStack() as stack:
                size = engine.pool.size() + engine.pool._max_overflow
                for _ in range(size):
                    stack.enter_context(engine.connect())
                assert_unavailable(client.post(CLAIMS, json=CLAIM))
                assert_unavailable(client.get("/api/v1/exports", params={"format": "ndjson"}))
            assert client.post(CLAIMS, json=CLAIM).status_code == 201


@pytest.fixture
def tiny_role_url(database_url: str) -> Iterator[str]:
    """The database as a role that may hold one connection (CONNECTION LIMIT 1)."""
    role = f"claims_tiny_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 1"))
        conn.execute(text(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}"))
    try:
        yield make_url(database_url).set(username=role).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


class TestTheServerRefuses:
    def test_too_many_clients_answers_503_on_every_path(
        self, tiny_role_url: str, key: str, claim_id: int
    ) -> None:
        holder = create_engine(tiny_role_url)
        try:
            with holder.connect() as held:
                held.execute(text("SELECT 1"))  # the role's one connection, taken
                with served(tiny_role_url, key) as client:
                    assert_unavailable(client.get(f"{CLAIMS}/{claim_id}"))
                    assert_unavailable(client.get(CLAIMS))
                    assert_unavailable(client.post(CLAIMS, json=CLAIM))
        finally:
            holder.dispose()

    def test_a_stopped_server_answers_503_on_every_path(self, key: str) -> None:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
        with served(url, key) as client:
            assert_unavailable(client.get(f"{CLAIMS}/1"))
            assert_unavailable(client.get(CLAIMS))
            assert_unavailable(client.post(CLAIMS, json=CLAIM))


class TestLocksAndAborts:
    def test_a_write_that_times_out_on_a_held_row_lock_answers_503(
        self, database_url: str, key: str, claim_id: int
    ) -> None:
        url = make_url(database_url).update_query_dict({"options": "-c lock_timeout=200"})
        engine = create_engine(database_url)
        try:
            with engine.connect() as locker, locker.begin():
                lock = text("SELECT 1 FROM claim WHERE id = :id FOR UPDATE")
                locker.execute(lock, {"id": claim_id})
                with served(url.render_as_string(hide_password=False), key) as client:
                    patch = {"statement": "The river rose three metres in a night."}
                    assert_unavailable(client.patch(f"{CLAIMS}/{claim_id}", json=patch))
                    # Reads take no row lock: they still answer.
                    assert client.get(f"{CLAIMS}/{claim_id}").status_code == 200
        finally:
            engine.dispose()

    @pytest.mark.parametrize(
        "sqlstate",
        [
            "serialization_failure",
            "deadlock_detected",
            "lock_not_available",
            "query_canceled",
            "too_many_connections",
            "admin_shutdown",
        ],
    )
    @pytest.mark.parametrize("path", ["fast", "thread"])
    def test_the_server_aborting_a_statement_answers_503(
        self, database_url: str, sqlstate: str, path: str
    ) -> None:
        # The server raises the real error, with its real SQLSTATE, through the real driver.
        statement = f"DO $$ BEGIN RAISE EXCEPTION 'provoked' USING ERRCODE = '{sqlstate}'; END $$"
        with served(database_url, public_read=True) as client:
            app = client.app
            database = app.state.database  # type: ignore[attr-defined]

            async def provoke() -> None:
                if path == "fast":
                    await database.fetch_all(statement, ())
                else:
                    await database.read(lambda conn: conn.exec_driver_sql(statement))

            app.add_api_route("/provoke", provoke)  # type: ignore[attr-defined]
            assert_unavailable(client.get("/provoke"))
