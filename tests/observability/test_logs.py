"""The JSON log lines of a real server (issue 16): one per request, correlated with the
X-Request-ID the client saw, with the route's template, the key's id and role, the revision ids
a write recorded, and never a key's secret or the Authorization header."""

import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from app.core.db import Database
from app.core.settings import Settings
from app.main import create_app
from tests.conftest import bearer, create_key, new_key_in
from tests.servers import Server, running_server

CLAIMS = "/api/v1/claims"


def log_lines(server: Server) -> list[dict[str, Any]]:
    """Every line the server wrote so far, each parsed as JSON (a line that is not fails)."""
    return [json.loads(line) for line in server.log().splitlines() if line.strip()]


def request_line(server: Server, request_id: str) -> dict[str, Any]:
    """The ``request`` line of ``request_id``: it is written just after the response, so the
    client may read the log before it is there."""
    deadline = time.monotonic() + 10
    while True:
        found = [
            line
            for line in log_lines(server)
            if line["event"] == "request" and line.get("request_id") == request_id
        ]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, server.log()
            return found[0]
        time.sleep(0.05)


@pytest.mark.slow
class TestARealServersLines:
    @pytest.fixture
    def server(self, migrated_database_url: str, tmp_path: Path) -> Any:
        key = new_key_in(migrated_database_url, "editor", name="desk robot")
        env = {"CLAIMS_LOG_FORMAT": "json", "CLAIMS_LOG_LEVEL": "info"}
        with running_server(migrated_database_url, env=env, api_key=key) as server:
            yield server

    def test_requests_are_logged_with_their_ids_template_key_and_revisions(
        self, server: Server
    ) -> None:
        with httpx.Client(base_url=server.base_url, headers=server.headers) as api:
            created = api.post(
                CLAIMS,
                json={"statement": "The bridge was closed."},
                headers={"X-Request-ID": "desk-7"},
            )
            assert created.status_code == 201
            claim_id = created.json()["id"]
            fast = api.get(f"{CLAIMS}/{claim_id}")  # the fast route
            routed = api.get(f"{CLAIMS}/{claim_id}", params={"as_of": 1})  # FastAPI's route
            listed = api.get(CLAIMS, params={"limit": 5})  # the list's fast route
            listed_routed = api.get(CLAIMS, params={"limit": 5, "unused": 1})  # FastAPI's
            invalid = api.post(CLAIMS, json={})
            history = api.get(f"{CLAIMS}/{claim_id}/history").json()["items"]

        write = request_line(server, created.headers["x-request-id"])
        assert write["client_request_id"] == "desk-7"
        assert write["method"] == "POST"
        assert write["route"] == CLAIMS
        assert write["status"] == 201
        assert write["level"] == "info"
        assert write["timestamp"].endswith("Z")
        assert write["role"] == "editor"
        assert isinstance(write["key_id"], int)
        assert write["revision_ids"] == [history[0]["id"]]
        assert write["revisions"] == 1
        assert write["duration_ms"] >= write["db_ms"] > 0

        for response in (fast, routed):
            assert response.status_code == 200
            line = request_line(server, response.headers["x-request-id"])
            assert line["route"] == f"{CLAIMS}/{{entity_id}}"  # the template, not the path
            assert line["key_id"] == write["key_id"]
            assert "revision_ids" not in line  # a read records none
        for response in (listed, listed_routed):
            assert response.status_code == 200
            assert request_line(server, response.headers["x-request-id"])["route"] == CLAIMS

        refused = request_line(server, invalid.headers["x-request-id"])
        assert (refused["status"], refused["key_id"]) == (422, write["key_id"])

    def test_no_line_holds_a_secret_or_the_authorization_header(self, server: Server) -> None:
        assert server.api_key is not None
        secret = server.api_key.split("_", 2)[2]  # ct_<prefix>_<secret>; the secret may hold "_"
        wrong = "ct_0123abcd_" + "x" * 43
        with httpx.Client(base_url=server.base_url) as api:
            api.get(CLAIMS, headers=server.headers)
            api.post(CLAIMS, headers=server.headers, json={"statement": server.api_key})
            refused = api.get(CLAIMS, headers=bearer(wrong))
        request_line(server, refused.headers["x-request-id"])
        lines = server.log().splitlines()
        assert len(lines) >= 3
        for line in lines:
            assert server.api_key not in line
            assert secret not in line
            assert wrong not in line
            assert "Bearer" not in line
            assert "authorization" not in line.lower()

    def test_every_line_is_json_and_uvicorns_access_log_is_gone(self, server: Server) -> None:
        with httpx.Client(base_url=server.base_url) as api:
            response = api.get("/healthz")
        request_line(server, response.headers["x-request-id"])
        lines = log_lines(server)  # parses every line
        assert all({"timestamp", "level", "event"} <= line.keys() for line in lines)
        assert not [line for line in lines if line.get("logger") == "uvicorn.access"]
        assert not [line for line in lines if "HTTP/1.1" in str(line["event"])]


def test_a_500_logs_its_trace_with_the_request_id_the_client_saw(
    db: Database, settings: Settings
) -> None:
    app = create_app(settings, database=db)

    def fail() -> None:
        raise RuntimeError("unexpected")

    app.add_api_route("/api/v1/fail", fail)
    with TestClient(app, raise_server_exceptions=False) as client, capture_logs() as events:
        response = client.get("/api/v1/fail", headers=bearer(create_key(db, "reader")))
    assert response.status_code == 500
    request_id = response.json()["request_id"]
    (error,) = [event for event in events if event["event"] == "unhandled_error"]
    assert error["request_id"] == request_id
    assert isinstance(error["exc_info"], RuntimeError)
    (line,) = [event for event in events if event["event"] == "request"]
    assert (line["request_id"], line["status"], line["route"]) == (request_id, 500, "/api/v1/fail")


def test_the_request_line_is_written_as_structlog_would_frame_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The request line's direct JSON path (a JSON-logging process): the same frame, the level
    filter applied, and nothing done in a process that does not log JSON."""
    from app.core import logs

    stream = io.BytesIO()
    monkeypatch.setattr(logs, "_json_stream", None)
    assert not logs.write_json_line(logging.INFO, "request", "app.request", {"status": 200})
    monkeypatch.setattr(logs, "_json_stream", stream)
    monkeypatch.setattr(logs, "_json_min_level", logging.WARNING)
    assert logs.write_json_line(logging.INFO, "request", "app.request", {"status": 200})
    assert stream.getvalue() == b""  # below the level: dropped, and not logged elsewhere
    assert logs.write_json_line(logging.ERROR, "request", "app.request", {"status": 500})
    line = json.loads(stream.getvalue())
    assert list(line)[:4] == ["timestamp", "level", "event", "logger"]
    assert (line["level"], line["event"], line["logger"], line["status"]) == (
        "error",
        "request",
        "app.request",
        500,
    )
    assert line["timestamp"].endswith("Z")
