"""The connection budget: one total for the service, an equal share per worker, each share
divided between the engine's pool (plus overflow) and the async read pool."""

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from structlog.testing import capture_logs

from app.cli import share_connection_budget
from app.core.budget import (
    MIN_PER_PROCESS,
    ServerConnections,
    default_budget,
    derive_budget,
    libpq_url,
    per_process,
    plan_pools,
    read_server_connections,
)
from app.core.settings import Settings, get_settings
from app.main import open_database
from tests.conftest import PG_URL, create_pg_database, drop_pg_database

needs_pg = pytest.mark.skipif(not PG_URL, reason="needs CLAIMS_TEST_PG_URL")


class TestPlanPools:
    @pytest.mark.parametrize("share", range(MIN_PER_PROCESS, 120))
    def test_a_share_is_never_exceeded_and_every_pool_gets_a_connection(self, share: int) -> None:
        plan = plan_pools(share, pool_size=32)
        assert plan.total <= share
        assert plan.sync_pool_size >= 1
        assert plan.async_pool_size >= 1

    def test_the_engine_keeps_at_most_the_pool_size_setting(self) -> None:
        plan = plan_pools(500, pool_size=10)
        assert (plan.sync_pool_size, plan.sync_max_overflow) == (10, 5)

    def test_one_listens_and_a_quarter_of_the_rest_goes_to_the_async_reads(self) -> None:
        plan = plan_pools(17, pool_size=32)
        assert plan.listen_connections == 1
        assert plan.async_pool_size == 4
        assert plan.sync_pool_size + plan.sync_max_overflow == 12

    def test_behind_a_transaction_pooler_nothing_listens(self) -> None:
        plan = plan_pools(16, pool_size=32, listen=False)
        assert plan.listen_connections == 0
        assert plan.async_pool_size == 4
        assert plan.sync_pool_size + plan.sync_max_overflow == 12


class TestPerProcess:
    def test_workers_share_the_budget_equally(self) -> None:
        assert per_process(70, 4) == 17

    def test_a_budget_too_small_for_the_workers_is_refused_at_start(self) -> None:
        with pytest.raises(ValueError, match="CLAIMS_DB_MAX_CONNECTIONS=6 cannot serve 4"):
            per_process(6, 4)


class TestDefaultBudget:
    def test_it_keeps_a_quarter_of_the_spare_connections_free(self) -> None:
        server = ServerConnections(max_connections=100, reserved=3, held_by_others=17)
        assert server.spare == 80
        assert default_budget(server) == 60

    def test_a_full_server_leaves_nothing(self) -> None:
        assert default_budget(ServerConnections(100, 3, 120)) == 0


@needs_pg
class TestDerivedFromTheServer:
    def test_the_server_says_what_it_allows_and_what_others_hold(self) -> None:
        held = create_engine(PG_URL)
        try:
            with held.connect() as conn:
                limit = conn.execute(text("SHOW max_connections")).scalar_one()
                server = read_server_connections(PG_URL)
        finally:
            held.dispose()
        assert server.max_connections == int(limit)
        assert server.reserved >= 0
        assert server.held_by_others >= 1  # the connection held above, at least

    def test_the_derived_budget_is_logged_with_its_numbers(self) -> None:
        with capture_logs() as events:
            budget = derive_budget(PG_URL, workers=4)
        assert budget >= 4 * MIN_PER_PROCESS
        (event,) = [e for e in events if e["event"] == "connection_budget_derived"]
        assert event["budget"] == budget
        assert event["workers"] == 4
        assert event["max_connections"] >= budget

    def test_an_unreachable_server_gives_a_logged_fallback(self) -> None:
        with capture_logs() as events:
            budget = derive_budget("postgresql+psycopg://postgres@127.0.0.1:1/none", workers=2)
        assert budget == default_budget(ServerConnections(100, 3, 0))
        (event,) = [e for e in events if e["event"] == "max_connections_unreadable"]
        assert event["assumed"] == 100
        assert event["log_level"] == "warning"


@pytest.fixture
def clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No budget or worker count in the environment, and none left behind: ``serve`` writes
    them into ``os.environ`` itself, so monkeypatch is made to record (set, then delete) the
    variables first, or its undo would not take back what the tests' ``serve`` wrote."""
    for name in ("CLAIMS_DB_MAX_CONNECTIONS", "CLAIMS_WORKERS"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


class TestServeSharesTheBudget:
    @needs_pg
    def test_serve_derives_the_budget_once_and_passes_it_to_the_workers(
        self, clean_settings_env: pytest.MonkeyPatch
    ) -> None:
        clean_settings_env.setenv("CLAIMS_DATABASE_URL", PG_URL)
        share_connection_budget(4)
        settings = get_settings()
        assert settings.workers == 4
        assert settings.db_max_connections is not None
        assert settings.db_max_connections >= 4 * MIN_PER_PROCESS

    @needs_pg
    def test_a_budget_the_operator_set_is_kept(
        self, clean_settings_env: pytest.MonkeyPatch
    ) -> None:
        clean_settings_env.setenv("CLAIMS_DATABASE_URL", PG_URL)
        clean_settings_env.setenv("CLAIMS_DB_MAX_CONNECTIONS", "12")
        share_connection_budget(3)
        assert get_settings().db_max_connections == 12

    def test_sqlite_needs_no_budget(
        self, clean_settings_env: pytest.MonkeyPatch, tmp_path: object
    ) -> None:
        clean_settings_env.setenv("CLAIMS_DATABASE_URL", "sqlite:///:memory:")
        share_connection_budget(2)
        assert get_settings().db_max_connections is None
        assert get_settings().workers == 2


@needs_pg
class TestAProcessStaysWithinItsShare:
    @pytest.mark.anyio
    @pytest.mark.parametrize("anyio_backend", ["asyncio"])
    async def test_the_pools_of_one_worker_add_up_to_its_share(self, anyio_backend: str) -> None:
        url = create_pg_database()
        try:
            settings = Settings(database_url=url, db_max_connections=40, workers=2)
            database = await open_database(settings)
            try:
                pool = database.engine.pool
                read_pool = database._read_pool
                assert read_pool is not None
                held = pool.size() + pool._max_overflow  # type: ignore[attr-defined]
                # One more connection LISTENs for the change stream (opened with the first).
                assert held + read_pool.max_size + 1 <= 20
                assert read_pool.max_size == 4
            finally:
                await database.close()
        finally:
            drop_pg_database(url)


def test_a_sqlalchemy_url_becomes_a_libpq_conninfo_with_its_options() -> None:
    url = "postgresql+psycopg://u:p%40ss@h:5/db?options=-c+lock_timeout%3D200&sslmode=disable"
    assert libpq_url(url) == (
        "host=h dbname=db user=u password=p@ss port=5 options='-c lock_timeout=200' sslmode=disable"
    )
