"""Test databases: real SQLite and real PostgreSQL, schema built by the migrations.

Every test that uses ``db`` runs once per backend, inside an outer transaction that is rolled
back afterwards; the services' commits only release savepoints, so each test's writes vanish.
"""

import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

with warnings.catch_warnings():
    # Exactly the warning pyproject.toml also filters: the product keeps httpx, not httpx2.
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient` is deprecated"
    )
    from starlette.testclient import TestClient

from app.auth import service as auth_service
from app.auth.actor import Role
from app.core.db import Database, make_engine
from app.core.settings import Settings, get_settings
from app.main import create_app
from app.schema.migrate import upgrade
from app.tlog.signing import create_key_file

PG_URL = os.environ.get("CLAIMS_TEST_PG_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


# Modules that reach PostgreSQL without the ``backend`` fixture (their own databases, servers).
_PG_MARKS = ("PG_URL", "create_pg_database", "pgbouncer")
_module_uses_pg: dict[Path, bool] = {}


def _uses_postgresql(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("backend") == "postgresql":
        return True
    path = Path(item.path)
    if path not in _module_uses_pg:
        source = path.read_text(encoding="utf-8")
        _module_uses_pg[path] = any(mark in source for mark in _PG_MARKS)
    return _module_uses_pg[path]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``make test`` runs the suite on two workers (pytest-xdist, ``--dist loadgroup``); every
    test that touches PostgreSQL goes to one of them. The change feed's watermark is the
    oldest transaction in flight in the whole PostgreSQL cluster, so another worker's open test
    transaction would hold back what a test waits to see (a stream event, a page's change)."""
    for item in items:
        if _uses_postgresql(item):
            item.add_marker(pytest.mark.xdist_group("postgresql"))


def create_pg_database(prefix: str = "claims_test") -> str:
    """A fresh, empty PostgreSQL database next to CLAIMS_TEST_PG_URL's; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_database_url(backend: str, tmp_dir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_dir / f'claims-{uuid.uuid4().hex[:8]}.db'}"
    return create_pg_database()


@pytest.fixture
def migrated_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database of ``backend`` of the test's own, migrated, dropped afterwards."""
    url = fresh_database_url(backend, tmp_path)
    upgrade(url)
    yield url
    if backend == "postgresql":
        drop_pg_database(url)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = fresh_database_url(backend, tmp_path_factory.mktemp(backend))
    upgrade(url)
    yield url
    if backend == "postgresql":
        drop_pg_database(url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, Settings(database_url=database_url, pool_size=5))
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Database]:
    with engine.connect() as connection:
        outer = connection.begin()
        yield Database(engine, bind=connection)
        outer.rollback()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.session(write=True) as session:
        yield session


@pytest.fixture(scope="session")
def checkpoint_key_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A checkpoint signing key for the session's apps (the transparency log)."""
    path = tmp_path_factory.mktemp("tlog") / "checkpoint.key"
    create_key_file(path, "claimtracker/history")
    return str(path)


@pytest.fixture
def settings(database_url: str, checkpoint_key_file: str) -> Settings:
    return Settings(database_url=database_url, checkpoint_key_file=checkpoint_key_file)


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The URL of an empty SQLite file that ``claimtracker`` commands in this test work on
    (CLAIMS_DATABASE_URL)."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CLAIMS_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def create_key(database: Database, role: Role | str, name: str | None = None) -> str:
    """A new API key in ``database`` (through the service); returns its secret."""
    with database.session(write=True) as session:
        _, secret = auth_service.create_key(session, name or f"test {role}", role)
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def new_key_in(database_url: str, role: Role | str = Role.admin, name: str = "test") -> str:
    """A key in the database at ``database_url`` (for tests that start real servers)."""
    engine = make_engine(database_url)
    try:
        return create_key(Database(engine), role, name)
    finally:
        engine.dispose()


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(db: Database, settings: Settings) -> Iterator[MakeClient]:
    """``make_client(role, **settings)``: a client sending a new key of that role (None: no
    key), on an app built with these settings changed. All share the test's database."""
    with ExitStack() as stack:

        def make(role: Role | str | None = Role.admin, **overrides: Any) -> TestClient:
            app = create_app(settings.model_copy(update=overrides), database=db)
            headers = bearer(create_key(db, role)) if role is not None else {}
            client = TestClient(app, raise_server_exceptions=True, headers=headers)
            return stack.enter_context(client)

        yield make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    """An admin's client: existing tests act with every permission."""
    return make_client(Role.admin)


@pytest.fixture
def anonymous(make_client: MakeClient) -> TestClient:
    return make_client(None)
