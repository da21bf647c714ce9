"""GET /metrics (issue 16): scraped with prometheus-client's own parser after traffic; the
CLAIMS_METRICS modes; and the sum over the workers of ``claimtracker serve --workers 2``."""

import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from app.auth.actor import Role
from tests.conftest import MakeClient, new_key_in
from tests.servers import running_server

CLAIMS = "/api/v1/claims"
HTTP_FAMILIES = {
    "claims_http_requests",
    "claims_http_request_duration_seconds",
    "claims_http_request_db_seconds",
}
# In multi-process mode a family appears once some process counted something in it.
FAMILIES = {*HTTP_FAMILIES, "claims_revisions_written", "claims_import_rows"}


def scrape(
    client: TestClient | httpx.Client, families: set[str] = FAMILIES
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the claims_ families: {(name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    parsed = list(text_string_to_metric_families(response.text))
    assert {family.name for family in parsed} >= families
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in parsed
        if family.name.startswith("claims_")
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class TestTheMetrics:
    def test_requests_are_counted_by_route_template_method_and_status(
        self, client: TestClient
    ) -> None:
        before = scrape(client)
        claim_id = client.post(CLAIMS, json={"statement": "The dam holds."}).json()["id"]
        for _ in range(3):
            assert client.get(f"{CLAIMS}/{claim_id}").status_code == 200
        assert client.get(f"{CLAIMS}/2147483000").status_code == 404
        assert client.get("/no/such/path").status_code == 404
        after = scrape(client)

        by_id = {"route": f"{CLAIMS}/{{entity_id}}", "method": "GET"}
        counted = "claims_http_requests_total"
        assert (
            value(after, counted, **by_id, status="200")
            - value(before, counted, **by_id, status="200")
            == 3
        )
        assert (
            value(after, counted, **by_id, status="404")
            - value(before, counted, **by_id, status="404")
            == 1
        )
        unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
        assert value(after, counted, **unmatched) - value(before, counted, **unmatched) == 1
        latency = "claims_http_request_duration_seconds_count"
        assert (
            value(after, latency, **by_id, status="200")
            - value(before, latency, **by_id, status="200")
            == 3
        )
        db_time = "claims_http_request_db_seconds_count"
        assert value(after, db_time, **by_id) - value(before, db_time, **by_id) == 4
        assert value(after, "claims_http_request_db_seconds_sum", **by_id) > value(
            before, "claims_http_request_db_seconds_sum", **by_id
        )
        routes = {dict(labels).get("route", "") for _, labels in after}
        assert not [route for route in routes if route.endswith((f"/{claim_id}", "/2147483000"))]

    def test_revisions_and_import_rows_are_counted(self, client: TestClient) -> None:
        before = scrape(client)
        client.post(CLAIMS, json={"statement": "The ferry runs."})
        tag = uuid.uuid4().hex
        records = [
            {"external_id": f"{tag}:1", "statement": "One."},
            {"external_id": f"{tag}:2", "statement": "Two."},
            {"external_id": f"{tag}:3", "statement": ""},  # fails: skipped
        ]
        answer = client.post("/api/v1/imports", json=records, params={"on_error": "skip"})
        assert answer.json()["created"] == 2, answer.text
        assert client.post("/api/v1/imports", json=records[:1], params={"dry_run": "true"})
        after = scrape(client)

        created = {"entity_type": "claim", "action": "created"}
        written = "claims_revisions_written_total"
        assert value(after, written, **created) - value(before, written, **created) == 3
        rows = "claims_import_rows_total"
        for outcome, count in (("created", 2), ("failed", 1), ("updated", 0)):
            assert (
                value(after, rows, outcome=outcome) - value(before, rows, outcome=outcome) == count
            ), outcome

    def test_a_refused_write_counts_no_revision(self, client: TestClient) -> None:
        before = scrape(client)
        assert client.post(CLAIMS, json={}).status_code == 422
        after = scrape(client)
        written = [key for key in after if key[0] == "claims_revisions_written_total"]
        assert all(after[key] == before.get(key, 0.0) for key in written)


class TestTheModes:
    def test_admin_needs_an_admin_key(self, make_client: MakeClient) -> None:
        assert make_client(None).get("/metrics").status_code == 401
        assert make_client(Role.editor).get("/metrics").status_code == 403
        assert make_client(Role.admin).get("/metrics").status_code == 200

    def test_public_needs_none(self, make_client: MakeClient) -> None:
        scrape(make_client(None, metrics="public"))

    def test_off_is_not_found(self, make_client: MakeClient) -> None:
        response = make_client(Role.admin, metrics="off").get("/metrics")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize("mode", ["admin", "public"])
    def test_the_openapi_document_declares_it(self, make_client: MakeClient, mode: str) -> None:
        document = make_client(None, metrics=mode).get("/openapi.json").json()
        operation = document["paths"]["/metrics"]["get"]
        assert (
            "text/plain; version=0.0.4; charset=utf-8" in operation["responses"]["200"]["content"]
        )
        declared = {"401", "403"} <= operation["responses"].keys()
        assert declared is (mode == "admin")
        assert bool(operation["security"]) is (mode == "admin")

    def test_off_is_not_in_the_document(self, make_client: MakeClient) -> None:
        document = make_client(None, metrics="off").get("/openapi.json").json()
        assert "/metrics" not in document["paths"]


@pytest.mark.slow
def test_serve_with_two_workers_adds_up_every_workers_counts(
    migrated_database_url: str, tmp_path: Path
) -> None:
    key = new_key_in(migrated_database_url)
    requests = 40
    # The server's temporary files (its metrics directory among them) go under tmp_path.
    env = {"TMPDIR": str(tmp_path)}
    with running_server(
        migrated_database_url, workers=2, via_cli=True, env=env, api_key=key, startup_timeout=60
    ) as server:
        for _ in range(requests):
            # A connection each, so that both workers take some of them.
            with httpx.Client(base_url=server.base_url, headers=server.headers) as api:
                assert api.get(CLAIMS).status_code == 200
        (directory,) = tmp_path.glob("claims-metrics-*")
        worker_files = {path.name.split("_")[1] for path in directory.glob("counter_*.db")}
        assert len(worker_files) == 2, worker_files  # each worker writes its own file
        listed = {"route": CLAIMS, "method": "GET", "status": "200"}
        # Whichever worker answers a scrape, it reports the sum of both.
        for _ in range(6):
            with httpx.Client(base_url=server.base_url, headers=server.headers) as api:
                samples = scrape(api, HTTP_FAMILIES)
            assert value(samples, "claims_http_requests_total", **listed) == requests
    assert not list(tmp_path.glob("claims-metrics-*"))  # removed when the server stopped
