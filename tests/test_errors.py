"""Bad input anywhere answers RFC 9457 problem+json with the right status, never a 500."""

import pytest
from starlette.testclient import TestClient

PROBLEM = "application/problem+json"


def assert_problem(response: object, status: int) -> dict:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert {"type", "title", "status"} <= body.keys()
    assert "Traceback" not in response.text  # type: ignore[attr-defined]
    return body


class TestProblems:
    def test_unknown_route_is_404(self, client: TestClient) -> None:
        assert_problem(client.get("/api/v1/nothing-here"), 404)

    def test_wrong_method_is_405(self, client: TestClient) -> None:
        assert_problem(client.put("/api/v1/claims"), 405)

    def test_malformed_json_is_400(self, client: TestClient) -> None:
        response = client.post(
            "/api/v1/claims",
            content=b'{"statement": ',
            headers={"Content-Type": "application/json"},
        )
        assert assert_problem(response, 400)["type"].endswith("malformed-json")

    def test_invalid_utf8_is_a_client_error(self, client: TestClient) -> None:
        response = client.post(
            "/api/v1/claims",
            content=b'{"statement": "\xff\xfe"}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code in (400, 422)
        assert response.headers["content-type"] == PROBLEM

    def test_validation_errors_name_the_field(self, client: TestClient) -> None:
        body = assert_problem(client.post("/api/v1/speakers", json={"name": ""}), 422)
        assert body["errors"][0]["loc"] == ["body", "name"]

    def test_body_over_the_limit_is_413(self, client: TestClient) -> None:
        huge = b'{"statement": "' + b"x" * 1_100_000 + b'"}'
        response = client.post(
            "/api/v1/claims", content=huge, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 413)

    @pytest.mark.parametrize(
        "url",
        [
            "/api/v1/claims?speaker_id=99999999999999999999999",
            "/api/v1/claims/99999999999999999999999/history",
            "/api/v1/changes?after=99999999999999999999999",
            "/api/v1/claims/1/diff?from=1&to=99999999999999",
        ],
    )
    def test_huge_integers_are_422_not_500(self, client: TestClient, url: str) -> None:
        assert_problem(client.get(url), 422)

    def test_problem_instance_and_request_id_are_filled(self, client: TestClient) -> None:
        body = assert_problem(client.get("/api/v1/claims/424242"), 404)
        assert body["instance"] == "/api/v1/claims/424242"
        assert body["request_id"]  # the X-Request-ID tests are in tests/test_headers.py
