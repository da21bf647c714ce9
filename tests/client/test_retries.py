"""The client's retry policy (app/client/retries.py), carried out by httpx-retries' transport.

The answers come from a stand-in transport: the real server does not answer 5xx on demand, and
what is checked here is the client's side alone (which call is sent again, how long it waits);
tests/test_client*.py check retries against the real app (429) and a closed port.
"""

import httpx
import pytest

from app.client import ClaimTrackerClient, ClientError, ServerError, TooManyRequests
from app.client.retries import Policies


class Answers(httpx.MockTransport):
    """Answers ``statuses`` in turn (the last one from then on), counting the requests."""

    def __init__(self, *statuses: int, headers: dict[str, str] | None = None) -> None:
        self.requests: list[httpx.Request] = []

        def answer(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            status = statuses[min(len(self.requests), len(statuses)) - 1]
            return httpx.Response(status, headers=headers, json={"items": [], "id": 1})

        super().__init__(answer)


class Raises(httpx.MockTransport):
    def __init__(self, error: type[httpx.TransportError]) -> None:
        self.attempts = 0

        def fail(request: httpx.Request) -> httpx.Response:
            self.attempts += 1
            raise error("no answer", request=request)

        super().__init__(fail)


def client(
    transport: httpx.BaseTransport, *, max_retries: int = 2, max_backoff: float = 0.001
) -> ClaimTrackerClient:
    return ClaimTrackerClient(
        "http://api.test",
        transport=transport,
        max_retries=max_retries,
        backoff=0.001,
        max_backoff=max_backoff,
    )


class TestWhichCallsAreSentAgain:
    def test_a_get_is_retried_on_503_until_it_succeeds(self) -> None:
        answers = Answers(503, 503, 200)
        assert client(answers).get("/claims") == {"items": [], "id": 1}
        assert len(answers.requests) == 3

    def test_a_post_without_a_key_is_not_retried_on_503(self) -> None:
        answers = Answers(503, 201)
        with pytest.raises(ServerError):
            client(answers).create_claim({"statement": "A claim."})
        assert len(answers.requests) == 1

    def test_a_post_with_an_idempotency_key_is_retried_on_503(self) -> None:
        answers = Answers(503, 200)
        client(answers).import_records([{"external_id": "x:1", "statement": "One."}])
        assert len(answers.requests) == 2
        keys = {request.headers["Idempotency-Key"] for request in answers.requests}
        assert len(keys) == 1  # the same batch, the same key

    def test_a_patch_is_retried_on_429(self) -> None:
        answers = Answers(429, 200)
        client(answers).update_claim(1, {"place": "Here"})
        assert len(answers.requests) == 2

    def test_a_read_timeout_is_retried_only_for_a_call_safe_to_send_twice(self) -> None:
        reads = Raises(httpx.ReadTimeout)
        with pytest.raises(ClientError):
            client(reads).get("/claims")
        assert reads.attempts == 3
        posts = Raises(httpx.ReadTimeout)
        with pytest.raises(ClientError):
            client(posts).create_claim({"statement": "A claim."})
        assert posts.attempts == 1

    def test_a_connection_never_made_is_retried_for_any_call(self) -> None:
        refused = Raises(httpx.ConnectError)
        with pytest.raises(ClientError):
            client(refused).create_claim({"statement": "A claim."})
        assert refused.attempts == 3

    def test_the_last_answer_is_raised_when_retries_run_out(self) -> None:
        answers = Answers(429)
        with pytest.raises(TooManyRequests):
            client(answers, max_retries=1).get("/claims")
        assert len(answers.requests) == 2


class TestWaits:
    def test_retry_after_is_honoured_up_to_six_times_max_backoff(self) -> None:
        answers = Answers(429, headers={"Retry-After": "120"})
        with pytest.raises(TooManyRequests) as caught:
            client(answers, max_retries=1, max_backoff=0.002).get("/claims")
        assert caught.value.response.extensions["retry"].elapsed_sleep == pytest.approx(0.012)

    def test_retry_after_may_be_a_fraction_of_a_second(self) -> None:
        answers = Answers(503, headers={"Retry-After": "0.003"})
        with pytest.raises(ServerError) as caught:
            client(answers, max_retries=1, max_backoff=1.0).get("/claims")
        assert caught.value.response.extensions["retry"].elapsed_sleep == pytest.approx(0.003)

    def test_the_backoff_doubles_with_jitter_in_its_upper_half_up_to_max_backoff(self) -> None:
        policy = Policies.make(max_retries=10, backoff=0.25, max_backoff=10.0).safe
        for attempt, ceiling in [(1, 0.25), (2, 0.5), (3, 1.0), (6, 8.0), (7, 10.0), (9, 10.0)]:
            waits = [policy.copy_with(attempts_made=attempt).backoff_strategy() for _ in range(50)]
            assert all(ceiling / 2 <= wait <= ceiling for wait in waits), (attempt, waits)


class TestPolicies:
    def test_each_call_carries_the_policy_that_fits_it(self) -> None:
        policies = Policies.make(max_retries=3, backoff=0.1, max_backoff=1.0)
        assert policies.for_call("GET", {}) is policies.safe
        assert policies.for_call("DELETE", {"If-Match": '"v1"'}) is policies.safe
        assert policies.for_call("POST", {"Idempotency-Key": "k"}) is policies.safe
        assert policies.for_call("POST", {}) is policies.unsafe
        assert policies.for_call("PATCH", {}) is policies.unsafe

    def test_requests_sent_straight_through_http_retry_idempotent_methods_only(self) -> None:
        answers = Answers(503, 200, 503)
        api = client(answers)
        assert api.http.get("/api/v1/claims").status_code == 200
        assert api.http.post("/api/v1/claims", json={}).status_code == 503
        assert len(answers.requests) == 3
