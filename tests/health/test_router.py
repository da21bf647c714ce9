"""Liveness and readiness."""

from starlette.testclient import TestClient


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
