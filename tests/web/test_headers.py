"""Response headers every answer carries: the server's request id (and the client's, kept
apart from the history), nosniff, and Cache-Control / Vary on API responses."""

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from app.core.db import Database
from app.core.settings import Settings
from app.main import create_app
from app.web.api_docs import ASSETS_PATH
from tests.conftest import MakeClient

CLAIMS = "/api/v1/claims"
SERVER_ID = re.compile(r"[0-9a-f]{32}")

HOSTILE_IDS: dict[str, list[tuple[str, bytes]]] = {
    "too long": [("X-Request-ID", b"a" * 129)],
    "far too long": [("X-Request-ID", b"a" * 8000)],
    "trailing newline": [("X-Request-ID", b"desk-42\n")],
    "header injection": [("X-Request-ID", b"a\r\nSet-Cookie: x=1")],
    "NUL": [("X-Request-ID", b"a\x00b")],
    "tab": [("X-Request-ID", b"a\tb")],
    "DEL": [("X-Request-ID", b"a\x7fb")],
    "UTF-8": [("X-Request-ID", "zayavka-№42-é".encode())],
    "latin-1 byte": [("X-Request-ID", b"caf\xe9")],
    "spaces and angle brackets": [("X-Request-ID", b"a b<c>")],
    "empty": [("X-Request-ID", b"")],
    "two different copies": [("X-Request-ID", b"desk-1"), ("X-Request-ID", b"desk-2")],
    "many copies": [("X-Request-ID", b"desk-42")] * 200,
}


def create_claim(client: TestClient, headers: list[tuple[str, bytes]]) -> dict[str, str]:
    """POST a claim with these extra headers; returns the response headers and the request id
    its revision recorded."""
    response = client.post(CLAIMS, json={"statement": "The bridge was rebuilt."}, headers=headers)
    assert response.status_code == 201, response.text
    history = client.get(f"{CLAIMS}/{response.json()['id']}/history")
    (revision,) = history.json()["items"]
    return {**response.headers, "revision": revision["request_id"]}


class TestRequestId:
    def test_every_response_carries_a_fresh_server_id(self, client: TestClient) -> None:
        ids = [client.get(CLAIMS).headers["x-request-id"] for _ in range(3)]
        ids.append(client.get("/api/v1/nothing").headers["x-request-id"])
        assert all(SERVER_ID.fullmatch(request_id) for request_id in ids)
        assert len(set(ids)) == 4

    def test_a_sane_client_id_is_echoed_apart_from_the_servers(self, client: TestClient) -> None:
        response = client.get(CLAIMS, headers={"X-Request-ID": "desk-42.retry:1"})
        assert response.headers["x-client-request-id"] == "desk-42.retry:1"
        assert SERVER_ID.fullmatch(response.headers["x-request-id"])

    def test_the_revision_records_the_servers_id_not_the_clients(self, client: TestClient) -> None:
        seen = create_claim(client, [("X-Request-ID", b"desk-42")])
        assert seen["revision"] == seen["x-request-id"] != "desk-42"
        assert seen["x-client-request-id"] == "desk-42"

    def test_a_problem_names_the_servers_id(self, client: TestClient) -> None:
        response = client.get(f"{CLAIMS}/424242", headers={"X-Request-ID": "desk-42"})
        assert response.json()["request_id"] == response.headers["x-request-id"] != "desk-42"

    @pytest.mark.parametrize("headers", HOSTILE_IDS.values(), ids=HOSTILE_IDS.keys())
    def test_a_hostile_client_id_never_enters_a_revision_nor_errs(
        self, client: TestClient, headers: list[tuple[str, bytes]]
    ) -> None:
        seen = create_claim(client, headers)
        assert SERVER_ID.fullmatch(seen["revision"])
        assert seen["revision"] == seen["x-request-id"]
        assert "x-client-request-id" not in seen

    @pytest.mark.parametrize("headers", HOSTILE_IDS.values(), ids=HOSTILE_IDS.keys())
    def test_a_hostile_client_id_on_a_read_is_ignored(
        self, client: TestClient, headers: list[tuple[str, bytes]]
    ) -> None:
        response = client.get(CLAIMS, headers=headers)
        assert response.status_code == 200
        assert "x-client-request-id" not in response.headers

    def test_the_client_id_is_logged_beside_the_servers(self, client: TestClient) -> None:
        with capture_logs() as events:
            response = client.get(CLAIMS, headers={"X-Request-ID": "desk-42"})
        (line,) = [event for event in events if event["event"] == "request"]
        assert line["request_id"] == response.headers["x-request-id"]
        assert line["client_request_id"] == "desk-42"


@pytest.fixture
def failing_client(db: Database, settings: Settings) -> Iterator[TestClient]:
    """An app with one route that fails unexpectedly (a 500 the error handler renders)."""
    app = create_app(settings, database=db)

    def fail() -> None:
        raise RuntimeError("unexpected")

    app.add_api_route("/api/v1/fail", fail)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def every_kind_of_answer(client: TestClient, anonymous: TestClient) -> dict[str, object]:
    return {
        "200 read": client.get(CLAIMS),
        "201 write": client.post(CLAIMS, json={"statement": "x"}),
        "401 no key": anonymous.get(CLAIMS),
        "401 bad key": anonymous.get(CLAIMS, headers={"Authorization": "Bearer nope"}),
        "404": client.get(f"{CLAIMS}/424242"),
        "405": client.put(CLAIMS),
        "413": client.post(CLAIMS, content=b"x" * 2_000_000, headers={"Content-Type": "a/b"}),
        "415": client.post(CLAIMS, content=b"x", headers={"Content-Type": "text/plain"}),
        "422": client.post(CLAIMS, json={}),
        "healthz": anonymous.get("/healthz"),
        "openapi": anonymous.get("/openapi.json"),
        "docs": anonymous.get("/docs"),
    }


class TestSecurityHeaders:
    def test_every_answer_says_nosniff_and_carries_a_request_id(
        self, client: TestClient, anonymous: TestClient
    ) -> None:
        for name, response in every_kind_of_answer(client, anonymous).items():
            headers = response.headers  # type: ignore[attr-defined]
            assert headers["x-content-type-options"] == "nosniff", name
            assert SERVER_ID.fullmatch(headers["x-request-id"]), name

    def test_every_api_answer_to_a_key_is_no_store(
        self, client: TestClient, anonymous: TestClient
    ) -> None:
        answers = every_kind_of_answer(client, anonymous)
        for name, response in answers.items():
            headers = response.headers  # type: ignore[attr-defined]
            assert headers["cache-control"] == "no-store", name
            if name not in ("healthz", "openapi", "docs"):
                vary = {v.strip().lower() for v in headers["vary"].split(",")}
                assert "authorization" in vary, name

    def test_public_reads_are_no_store_too(self, make_client: MakeClient) -> None:
        response = make_client(None, public_read=True).get(CLAIMS)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["vary"].lower() == "authorization"

    def test_vary_keeps_cors_origin(self, make_client: MakeClient) -> None:
        origin = "https://newsroom.example"
        response = make_client(None, cors_origins=[origin]).get(CLAIMS, headers={"Origin": origin})
        vary = {v.strip().lower() for v in response.headers["vary"].split(",")}
        assert {"origin", "authorization"} <= vary

    def test_an_unexpected_error_carries_them_too(self, failing_client: TestClient) -> None:
        response = failing_client.get("/api/v1/fail")
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert response.json()["request_id"] == response.headers["x-request-id"]

    def test_versioned_docs_assets_may_be_cached(self, anonymous: TestClient) -> None:
        response = anonymous.get(f"{ASSETS_PATH}/swagger-ui.css")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
