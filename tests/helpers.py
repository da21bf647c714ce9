"""What many test files need of the HTTP API and the command line, written once."""

import base64
from typing import Any

import httpx
import orjson
from typer.testing import CliRunner

from app.cli import cli

API = "/api/v1"
PROBLEM = "application/problem+json"


def created(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` to ``path``; the 201's body (the test fails with the answer otherwise)."""
    response = client.post(path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def assert_problem(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """A problem document (RFC 9457) with one of ``statuses``, its own status in the body and no
    stack trace; returns the body."""
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "Traceback" not in response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert {"type", "title", "status"} <= body.keys()
    return body


def cursor_of(document: Any) -> str:
    """A cursor as the API writes one (url-safe base64 of JSON, unpadded), holding anything."""
    return base64.urlsafe_b64encode(orjson.dumps(document)).rstrip(b"=").decode("ascii")


def invoke(*args: str) -> tuple[int, str]:
    """``claimtracker ARGS`` in process: its exit code and what it printed."""
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output
