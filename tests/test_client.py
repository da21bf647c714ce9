"""The typed client against the real app (TestClient is an httpx.Client; no mocks)."""

import httpx
import pytest

from app.auth.actor import Role
from app.client import (
    ClaimTrackerClient,
    ClientError,
    NotFound,
    PreconditionFailed,
    TooManyRequests,
    ValidationProblem,
)
from tests.conftest import MakeClient
from tests.servers import free_port


@pytest.fixture
def api(make_client: MakeClient) -> ClaimTrackerClient:
    client = ClaimTrackerClient("http://testserver", max_retries=2, backoff=0.001)
    client.http = make_client(Role.editor)
    return client


class TestProblems:
    def test_a_missing_claim_is_not_found(self, api: ClaimTrackerClient) -> None:
        with pytest.raises(NotFound) as caught:
            api.get_claim(999_999)
        assert caught.value.status == 404
        assert caught.value.type.endswith("not-found")

    def test_an_invalid_body_is_a_validation_problem_with_errors(
        self, api: ClaimTrackerClient
    ) -> None:
        with pytest.raises(ValidationProblem) as caught:
            api.create_claim({"statement": ""})
        assert caught.value.errors


class TestIfMatch:
    def test_the_last_read_etag_is_sent(self, api: ClaimTrackerClient) -> None:
        claim = api.create_claim({"statement": "A claim."})
        api.get_claim(claim["id"])
        assert api.update_claim(claim["id"], {"place": "Here"})["version"] == 2
        assert api.update_claim(claim["id"], {"place": "There"})["version"] == 3

    def test_a_stale_etag_is_precondition_failed(
        self, api: ClaimTrackerClient, make_client: MakeClient
    ) -> None:
        claim = api.create_claim({"statement": "A claim."})
        api.get_claim(claim["id"])
        other = make_client(Role.editor)
        other.patch(
            f"/api/v1/claims/{claim['id']}", json={"place": "X"}, headers={"If-Match": '"v1"'}
        )
        with pytest.raises(PreconditionFailed):
            api.update_claim(claim["id"], {"place": "Y"})


class TestIterators:
    def test_iter_claims_follows_the_cursor(self, api: ClaimTrackerClient) -> None:
        for n in range(5):
            api.create_claim({"statement": f"Claim {n}."})
        assert len(list(api.iter_claims(limit=2))) == 5

    def test_iter_changes_reads_the_feed(self, api: ClaimTrackerClient) -> None:
        api.create_claim({"statement": "One."})
        changes = list(api.iter_changes())
        assert changes[-1]["entity_type"] == "claim"


class TestRetries:
    def test_429_is_retried_then_raised_with_retry_after(self, make_client: MakeClient) -> None:
        api = ClaimTrackerClient("http://testserver", max_retries=1, max_backoff=0.001)
        api.http = make_client(Role.editor, rate_limit_per_minute=1)
        api.http.get("/api/v1/claims")
        with pytest.raises(TooManyRequests) as caught:
            api.get("/claims")
        response = caught.value.response
        assert int(response.headers["Retry-After"]) >= 1
        assert api._delay(0, response) <= 0.006

    def test_connection_errors_are_retried_then_raised(self) -> None:
        attempts = []

        def count(request: httpx.Request) -> None:
            attempts.append(request)

        api = ClaimTrackerClient(f"http://127.0.0.1:{free_port()}", max_retries=2, backoff=0.001)
        api.http.event_hooks["request"].append(count)
        with pytest.raises(ClientError):
            api.get("/claims")
        assert len(attempts) == 3
