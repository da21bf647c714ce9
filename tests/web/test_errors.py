"""Bad input anywhere answers RFC 9457 problem+json with the right status, never a 500."""

import pytest
from starlette.testclient import TestClient

from app.auth.actor import Role
from tests.conftest import MakeClient
from tests.helpers import PROBLEM, assert_problem, created


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
        assert body["request_id"]  # the X-Request-ID tests are in tests/web/test_headers.py


def new_speaker(client: TestClient) -> str:
    return f"/api/v1/speakers/{created(client, '/api/v1/speakers', {'name': 'Wagner Group'})['id']}"


class TestPreconditions:
    def test_an_app_built_without_require_if_match_takes_writes_without_it(
        self, make_client: MakeClient
    ) -> None:
        # The app's own settings decide, not the process-wide ones (those still require it).
        client = make_client(Role.admin, require_if_match=False)
        url = new_speaker(client)
        assert client.patch(url, json={"role": "PMC"}).status_code == 200

    def test_an_app_that_requires_if_match_answers_428_without_it(self, client: TestClient) -> None:
        url = new_speaker(client)
        assert_problem(client.patch(url, json={"role": "PMC"}), 428)

    def test_the_request_is_validated_before_if_match_is_checked(self, client: TestClient) -> None:
        url = new_speaker(client)
        # A malformed If-Match and a missing reason: one 422 naming both, not a 412 first.
        response = client.delete(url, headers={"If-Match": "W/whatever"})
        errors = assert_problem(response, 422)["errors"]
        assert {tuple(error["loc"]) for error in errors} == {
            ("query", "reason"),
            ("header", "if-match"),
        }

    def test_a_stale_if_match_on_an_invalid_body_is_422_not_412(self, client: TestClient) -> None:
        url = new_speaker(client)
        response = client.patch(url, json={"name": ""}, headers={"If-Match": '"v9"'})
        assert_problem(response, 422)


class TestMethodNotAllowed:
    def test_allow_lists_every_method_of_the_path(self, client: TestClient) -> None:
        # GET /claims/{id} and PATCH/DELETE /claims/{id} are separate routes.
        response = client.request("OPTIONS", "/api/v1/claims/1")
        assert_problem(response, 405)
        assert response.headers["allow"] == "DELETE, GET, PATCH"

    def test_allow_matches_the_openapi_document(self, client: TestClient) -> None:
        document = client.get("/openapi.json").json()
        for path, operations in document["paths"].items():
            concrete = path.replace("{entity_id}", "1").replace("{version}", "1")
            concrete = concrete.replace("{evidence_id}", "1").replace("{appearance_id}", "1")
            concrete = concrete.replace("{key_id}", "1")
            response = client.request("PUT", concrete)
            assert response.status_code == 405, path
            assert response.headers["allow"] == ", ".join(sorted(m.upper() for m in operations))


class TestTimestampsAreStrings:
    """The document says ISO 8601 strings; pydantic alone also took Unix seconds."""

    @pytest.mark.parametrize("url", ["/api/v1/claims", "/api/v1/outlets", "/api/v1/speakers"])
    def test_a_number_as_updated_since_is_422(self, client: TestClient, url: str) -> None:
        body = assert_problem(client.get(url, params={"updated_since": "0.5"}), 422)
        assert body["errors"][0]["loc"] == ["query", "updated_since"]

    def test_a_number_as_published_at_is_422(self, client: TestClient) -> None:
        response = client.post("/api/v1/sources", json={"title": "x", "published_at": 0})
        assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", "published_at"]

    def test_an_iso_timestamp_is_still_taken(self, client: TestClient) -> None:
        response = client.get("/api/v1/claims", params={"updated_since": "2026-01-31T12:00:00Z"})
        assert response.status_code == 200
