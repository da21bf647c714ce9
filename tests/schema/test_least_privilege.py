"""A least-privilege PostgreSQL deployment: the owner migrates, the server runs as a role that
may read and write rows but only SELECT and INSERT revisions (docs/deploy.md).

A fresh database is migrated by ``claimtracker migrate`` through CLAIMS_MIGRATION_DATABASE_URL
(the owner) while CLAIMS_DATABASE_URL names the server's role, which could not have created a
table; ``claimtracker db grant-app-role --apply`` grants it exactly the documented privileges.
The app then runs its main flows connected as that role, and the role's attempts to rewrite
or unprotect history fail with permission errors. Roles are cluster-wide: each test makes its
own, and drops it even when the test fails.
"""

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from app.core.settings import Settings, get_settings
from app.main import create_app
from app.schema.migrate import app_role_grants, downgrade
from tests.conftest import PG_URL, bearer, create_pg_database, drop_pg_database, new_key_in
from tests.helpers import invoke
from tests.imports.test_router import RECORDS, ndjson

needs_postgres = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set CLAIMS_TEST_PG_URL (roles)"),
]

API = "/api/v1"
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


@dataclass(frozen=True)
class Deployment:
    owner_url: str  # the migration role's: it owns the database and the schema
    app_url: str  # the server's role
    owner: str
    role: str


def run_sql(database_url: str, *statements: str) -> None:
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def as_user(url: str, user: str) -> str:
    return make_url(url).set(username=user, password=None).render_as_string(hide_password=False)


def psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """docs/deploy.md's set-up, with unique role names: the superuser's one-time SQL, then
    `claimtracker migrate` and `claimtracker db grant-app-role --apply` as the owner."""
    suffix = uuid.uuid4().hex[:10]
    owner, role = f"claims_owner_{suffix}", f"claims_app_{suffix}"
    superuser_url = create_pg_database(prefix="claims_least_privilege")
    owner_url, app_url = as_user(superuser_url, owner), as_user(superuser_url, role)
    try:
        run_sql(PG_URL, f'CREATE ROLE "{owner}" LOGIN', f'CREATE ROLE "{role}" LOGIN')
        run_sql(
            superuser_url,
            f'ALTER DATABASE "{make_url(superuser_url).database}" OWNER TO "{owner}"',
            f'ALTER SCHEMA public OWNER TO "{owner}"',
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        )
        monkeypatch.setenv("CLAIMS_DATABASE_URL", app_url)
        monkeypatch.setenv("CLAIMS_MIGRATION_DATABASE_URL", owner_url)
        get_settings.cache_clear()
        assert invoke("migrate") == (0, "database migrated to head\n")
        code, output = invoke("db", "grant-app-role", role, "--apply")
        assert code == 0, output
        yield Deployment(owner_url=owner_url, app_url=app_url, owner=owner, role=role)
    finally:
        get_settings.cache_clear()
        # DROP OWNED also takes back the grants and default privileges held in this database.
        run_sql(superuser_url, f'DROP OWNED BY "{role}", "{owner}"')
        drop_pg_database(superuser_url)
        run_sql(PG_URL, f'DROP ROLE IF EXISTS "{role}"', f'DROP ROLE IF EXISTS "{owner}"')


@pytest.fixture
def app_client(deployment: Deployment) -> Iterator[TestClient]:
    """The app connected as the server's role (its own engine and pool, as in production)."""
    secret = new_key_in(deployment.app_url)
    app = create_app(Settings(database_url=deployment.app_url, pool_size=2))
    with TestClient(app, headers=bearer(secret)) as client:
        yield client


def ok(response: Any) -> Any:
    assert response.status_code in (200, 201, 204), response.text
    return response


class TestTheServerRunsAsTheAppRole:
    pytestmark = needs_postgres

    def test_writes_history_and_reads_flow_through(
        self, app_client: TestClient, deployment: Deployment
    ) -> None:
        assert app_client.get("/readyz").status_code == 200
        speaker = ok(app_client.post(f"{API}/speakers", json={"name": "Jane Roe"})).json()
        claim = ok(
            app_client.post(
                f"{API}/claims",
                json={"statement": "The river is dry.", "speaker_id": speaker["id"]},
            )
        ).json()
        url = f"{API}/claims/{claim['id']}"
        ok(app_client.patch(url, json={"place": "Soledar"}, headers={"If-Match": '"v1"'}))
        ok(
            app_client.post(
                f"{url}/evidence",
                json={"title": "Gauge", "stance": "refutes", "url": "https://example.org/g"},
            )
        )
        ok(
            app_client.post(
                f"{url}/status",
                json={"status": "false", "verdict": "It runs.", "reason": "Gauge read"},
                headers={"If-Match": '"v3"'},
            )
        )
        ok(
            app_client.post(
                f"{url}/revert",
                json={"to_version": 2, "reason": "Premature"},
                headers={"If-Match": '"v4"'},
            )
        )
        ok(app_client.delete(url, params={"reason": "Duplicate"}, headers={"If-Match": '"v5"'}))
        ok(
            app_client.post(
                f"{url}/restore", json={"reason": "Not one"}, headers={"If-Match": '"v6"'}
            )
        )

        history = ok(app_client.get(f"{url}/history")).json()["items"]
        assert [r["version"] for r in history] == list(range(1, 8))
        # The feed's watermark is server-wide: a write transaction elsewhere on the server (other
        # tests' databases) may delay the entries, never lose them (docs/history.md).
        deadline = time.monotonic() + 30
        while not ok(app_client.get(f"{API}/changes")).json()["items"]:
            assert time.monotonic() < deadline, "the feed never showed the committed writes"
            time.sleep(0.1)
        assert ok(app_client.get(f"{API}/history/verify")).json()["ok"] is True

    def test_imports_with_an_idempotency_key_and_exports(self, app_client: TestClient) -> None:
        body = ndjson(RECORDS)  # speakers, outlets, sources, evidence, a verdict
        headers = {"Content-Type": "application/x-ndjson", "Idempotency-Key": "least-privilege"}
        first = ok(app_client.post(f"{API}/imports", content=body, headers=headers)).json()
        assert first["created"] == 2
        again = ok(app_client.post(f"{API}/imports", content=body, headers=headers)).json()
        assert again == first
        exported = ok(app_client.get(f"{API}/exports", params={"format": "csv"}))
        assert "The river is dry." in exported.text
        assert ok(app_client.get(f"{API}/history/verify")).json()["ok"] is True

    def test_api_keys_are_created_used_and_revoked(self, app_client: TestClient) -> None:
        created = ok(app_client.post(f"{API}/keys", json={"name": "desk", "role": "reader"}))
        reader = bearer(created.json()["secret"])
        assert ok(app_client.get(f"{API}/claims", headers=reader))
        ok(app_client.delete(f"{API}/keys/{created.json()['id']}"))
        assert app_client.get(f"{API}/claims", headers=reader).status_code == 401


REFUSED = {
    "update a revision": "UPDATE revision SET reason = 'forged'",
    "delete revisions": "DELETE FROM revision",
    "truncate revision": "TRUNCATE revision",
    "disable its triggers": "ALTER TABLE revision DISABLE TRIGGER ALL",
    "drop its trigger": "DROP TRIGGER revision_append_only ON revision",
    "drop the table": "DROP TABLE revision",
    "reset its id sequence": "SELECT setval(pg_get_serial_sequence('revision', 'id'), 1)",
    "skip triggers as a replica": "SET session_replication_role = replica",
    "create a table": "CREATE TABLE forged (id int)",
    "alter another table": "ALTER TABLE claim ADD COLUMN forged int",
    "truncate another table": "TRUNCATE api_key CASCADE",
    "move the migration mark": "UPDATE alembic_version SET version_num = 'forged'",
}


class TestTheAppRoleCannotRewriteHistory:
    pytestmark = needs_postgres

    @pytest.mark.parametrize("attempt", list(REFUSED))
    def test_the_statement_is_refused_for_lack_of_privilege(
        self, deployment: Deployment, attempt: str
    ) -> None:
        with (
            psycopg.connect(psycopg_url(deployment.app_url), autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(REFUSED[attempt])

    def test_on_revision_it_holds_exactly_select_and_insert(self, deployment: Deployment) -> None:
        with psycopg.connect(psycopg_url(deployment.owner_url)) as conn:
            held = {
                privilege
                for privilege in TABLE_PRIVILEGES
                if conn.execute(
                    "SELECT has_table_privilege(%s, 'revision', %s)", (deployment.role, privilege)
                ).fetchone()
                == (True,)
            }
            owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'revision'")
            assert owner.fetchone() == (deployment.owner,)
        assert held == {"SELECT", "INSERT"}

    def test_migrate_as_the_app_role_succeeds_only_at_head(
        self, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The image's start-up runs `claimtracker migrate` before `serve`.
        monkeypatch.delenv("CLAIMS_MIGRATION_DATABASE_URL")
        get_settings.cache_clear()
        assert invoke("migrate") == (0, "database migrated to head\n")
        downgrade(deployment.owner_url, "-1")
        code, _ = invoke("migrate")
        assert code != 0  # a schema change needs the owner

    def test_a_table_a_later_migration_adds_is_covered_by_default(
        self, deployment: Deployment
    ) -> None:
        run_sql(deployment.owner_url, "CREATE TABLE later_table (id serial PRIMARY KEY)")
        with psycopg.connect(psycopg_url(deployment.app_url), autocommit=True) as conn:
            conn.execute("INSERT INTO later_table DEFAULT VALUES")
            assert conn.execute("SELECT count(*) FROM later_table").fetchone() == (1,)


class TestTheGrantCommand:
    def test_it_prints_the_documented_statements_without_applying(self) -> None:
        code, output = invoke("db", "grant-app-role", "claims_app")
        assert code == 0
        assert output.splitlines() == [f"{s};" for s in app_role_grants("claims_app")]

    def test_the_deploy_guide_lists_the_same_statements(self) -> None:
        from app.schema.migrate import project_root

        guide = (project_root() / "docs" / "deploy.md").read_text(encoding="utf-8")
        for statement in app_role_grants("claims_app"):
            assert f"{statement};" in guide

    def test_a_role_name_that_is_not_plain_is_refused(self) -> None:
        code, output = invoke("db", "grant-app-role", 'x"; DROP TABLE revision; --')
        assert code == 2
        assert "not a plain role name" in output
