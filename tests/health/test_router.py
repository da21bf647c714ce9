"""Liveness and readiness."""

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from app.auth.actor import Role
from app.core.settings import Settings
from app.main import create_app
from app.schema.versions import SchemaAhead
from tests.conftest import MakeClient
from tests.helpers import assert_problem


class TestHealth:
    def test_healthz_says_the_process_is_up(self, client: TestClient) -> None:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_readyz_says_the_database_is_at_head(self, client: TestClient) -> None:
        response = client.get("/readyz")
        assert response.status_code == 200
        body = response.json()
        assert body["migration"] == body["expected_migration"]

    def test_both_are_under_the_api_prefix_too(self, client: TestClient) -> None:
        assert client.get("/api/v1/healthz").status_code == 200

    def test_openapi_and_docs_are_served(self, client: TestClient) -> None:
        spec = client.get("/openapi.json").json()
        assert "/api/v1/claims/{entity_id}/status" in spec["paths"]
        assert client.get("/docs").status_code == 200


class TestReadinessDetails:
    """Anyone learns only the status; an admin key adds the migration ids and the error class."""

    def test_anonymous_callers_get_only_the_status(self, anonymous: TestClient) -> None:
        response = anonymous.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_an_admin_key_sees_the_migrations(self, client: TestClient) -> None:
        body = client.get("/api/v1/readyz").json()
        assert body["status"] == "ok"
        assert body["migration"] == body["expected_migration"] == schema_head()

    def test_another_key_is_checked_like_anywhere(self, make_client: MakeClient) -> None:
        assert_problem(make_client(Role.editor).get("/readyz"), 403)
        bad = make_client(None)
        assert_problem(bad.get("/readyz", headers={"Authorization": "Bearer ct_nope"}), 401)

    def test_the_openapi_document_declares_its_answers(self, anonymous: TestClient) -> None:
        responses = anonymous.get("/openapi.json").json()["paths"]["/readyz"]["get"]["responses"]
        assert {"200", "401", "403", "503"} <= responses.keys()


def schema_head() -> str:
    from alembic.script import ScriptDirectory

    from app.schema.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def set_migration(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    engine.dispose()


class TestSchemaVersusCode:
    """On a database of its own, through the app's own lifespan (no test database bound)."""

    def test_a_schema_behind_serves_and_is_not_ready(self, migrated_database_url: str) -> None:
        set_migration(migrated_database_url, "d98d7f071bad")  # the first migration
        with TestClient(create_app(Settings(database_url=migrated_database_url))) as app:
            anonymous = app.get("/readyz")
            assert anonymous.status_code == 503
            assert anonymous.json() == {"status": "migrations pending"}
            assert app.get("/healthz").status_code == 200

    def test_a_schema_ahead_fails_the_start_up(self, migrated_database_url: str) -> None:
        set_migration(migrated_database_url, "f00dfeedcafe")
        app = create_app(Settings(database_url=migrated_database_url))
        with pytest.raises(SchemaAhead, match="f00dfeedcafe"), TestClient(app):
            pass

    def test_an_unreachable_database_is_not_ready_and_says_no_more(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'no-such-dir' / 'claims.db'}"
        with TestClient(create_app(Settings(database_url=url))) as app:
            response = app.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable"}
