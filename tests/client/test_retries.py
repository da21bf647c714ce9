"""The client's retry policy (app/client/retries.py), carried out by httpx-retries' transport.

Every request crosses a real socket to a scripted server on loopback (the ``server`` fixture,
tests/client/scripted_server.py): the real app does not answer 5xx, drop a connection or hang on
demand, and what is checked here is the client's side alone (which call is sent again, how long
it waits, what it raises). A connection never made goes to a port nothing listens on.
tests/client/test_http*.py check retries against the real app's 429 too.
"""

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from app.client import (
    AsyncClaimTrackerClient,
    ClaimTrackerClient,
    ClientError,
    NotFound,
    ServerError,
    TooManyRequests,
)
from app.client.retries import Policies
from tests.client.scripted_server import Answer, CountingTransport, ScriptedServer, Silence
from tests.servers import free_port

CLAIMS = "/api/v1/claims"
OK = {"items": [], "id": 1}
TIMEOUT = 0.1  # the client's timeout where the server hangs: a read timeout after it

OpenClient = Callable[..., ClaimTrackerClient]


@pytest.fixture
def open_client() -> Iterator[OpenClient]:
    """``open_client(base_url, **options)``: a client with tiny waits, closed after the test."""
    with ExitStack() as stack:

        def open_(
            base_url: str,
            *,
            max_retries: int = 2,
            max_backoff: float = 0.001,
            timeout: float = 2.0,
            transport: httpx.BaseTransport | None = None,
        ) -> ClaimTrackerClient:
            api = ClaimTrackerClient(
                base_url,
                max_retries=max_retries,
                backoff=0.001,
                max_backoff=max_backoff,
                timeout=timeout,
                transport=transport,
            )
            return stack.enter_context(api)

        yield open_


class TestWhichCallsAreSentAgain:
    def test_a_get_is_retried_on_every_retry_status_until_it_succeeds(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        server.script(Answer(503, {"Retry-After": "0.001"}), 429, 500, 502, 504, 200)
        assert open_client(server.base_url, max_retries=5).get("/claims") == OK
        assert [(r.method, r.path) for r in server.requests] == [("GET", CLAIMS)] * 6

    def test_a_post_without_a_key_is_not_retried_on_503(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        server.script(503, 201)
        with pytest.raises(ServerError) as caught:
            open_client(server.base_url).create_claim({"statement": "A claim."})
        assert caught.value.status == 503
        assert server.methods() == ["POST"]
        assert "Idempotency-Key" not in server.requests[0].headers

    def test_a_post_with_an_idempotency_key_is_retried_on_503(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        server.script(503, 200)
        open_client(server.base_url).import_records([{"external_id": "x:1", "statement": "One."}])
        assert server.methods() == ["POST", "POST"]
        first, second = server.requests
        assert first.path.startswith("/api/v1/imports?")
        # The same batch, the same key.
        assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
        assert first.body == second.body == b'{"external_id":"x:1","statement":"One."}\n'

    def test_a_patch_is_retried_on_429(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        server.script(429, 200)
        open_client(server.base_url).update_claim(1, {"place": "Here"})
        assert [(r.method, r.path) for r in server.requests] == [("PATCH", f"{CLAIMS}/1")] * 2

    def test_a_patch_is_not_retried_on_500(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        server.script(500, 200)
        with pytest.raises(ServerError):
            open_client(server.base_url).update_claim(1, {"place": "Here"})
        assert server.methods() == ["PATCH"]

    def test_a_read_timeout_is_retried_only_for_a_call_safe_to_send_twice(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        server.script(Silence.HANG)
        api = open_client(server.base_url, timeout=TIMEOUT)
        with pytest.raises(ClientError) as read:
            api.get("/claims")
        assert isinstance(read.value.__cause__, httpx.ReadTimeout)
        assert server.methods() == ["GET"] * 3
        with pytest.raises(ClientError) as post:
            api.create_claim({"statement": "A claim."})
        assert isinstance(post.value.__cause__, httpx.ReadTimeout)
        assert server.methods() == ["GET"] * 3 + ["POST"]

    def test_a_dropped_connection_is_retried_only_for_a_call_safe_to_send_twice(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        server.script(Silence.CLOSE)
        api = open_client(server.base_url)
        with pytest.raises(ClientError) as read:
            api.get("/claims")
        assert isinstance(read.value.__cause__, httpx.RemoteProtocolError)
        assert server.methods() == ["GET"] * 3
        with pytest.raises(ClientError) as post:
            api.create_claim({"statement": "A claim."})
        assert isinstance(post.value.__cause__, httpx.RemoteProtocolError)
        assert server.methods() == ["GET"] * 3 + ["POST"]
        with pytest.raises(ClientError):
            api.import_records([{"external_id": "x:1", "statement": "One."}])
        assert server.methods() == ["GET"] * 3 + ["POST"] * 4

    def test_a_connection_never_made_is_retried_for_any_call(self, open_client: OpenClient) -> None:
        refused = CountingTransport()
        api = open_client(f"http://127.0.0.1:{free_port()}", transport=refused)
        with pytest.raises(ClientError) as caught:
            api.create_claim({"statement": "A claim."})
        assert isinstance(caught.value.__cause__, httpx.ConnectError)
        assert refused.attempts == 3

    def test_the_last_answer_is_raised_when_retries_run_out(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        server.script(429)
        with pytest.raises(TooManyRequests) as caught:
            open_client(server.base_url, max_retries=1).get("/claims")
        assert caught.value.response.extensions["retry"].attempts_made == 1
        assert server.methods() == ["GET", "GET"]

    def test_another_4xx_is_not_retried(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        server.script(404, 200)
        with pytest.raises(NotFound):
            open_client(server.base_url).get("/claims/1")
        assert server.methods() == ["GET"]


class TestWaits:
    def test_retry_after_is_honoured_up_to_six_times_max_backoff(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        server.script(429, headers={"Retry-After": "120"})
        with pytest.raises(TooManyRequests) as caught:
            open_client(server.base_url, max_retries=1, max_backoff=0.002).get("/claims")
        assert caught.value.response.extensions["retry"].elapsed_sleep == pytest.approx(0.012)
        assert server.methods() == ["GET", "GET"]

    def test_retry_after_may_be_a_fraction_of_a_second(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        server.script(503, headers={"Retry-After": "0.003"})
        with pytest.raises(ServerError) as caught:
            open_client(server.base_url, max_retries=1, max_backoff=1.0).get("/claims")
        assert caught.value.response.extensions["retry"].elapsed_sleep == pytest.approx(0.003)

    def test_retry_after_may_be_an_http_date(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        in_an_hour = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
        server.script(503, headers={"Retry-After": in_an_hour})
        with pytest.raises(ServerError) as caught:
            open_client(server.base_url, max_retries=1, max_backoff=0.002).get("/claims")
        assert caught.value.response.extensions["retry"].elapsed_sleep == pytest.approx(0.012)

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

    def test_requests_sent_straight_through_http_retry_idempotent_methods_only(
        self, server: ScriptedServer, open_client: OpenClient
    ) -> None:
        server.script(503, 200, 503)
        api = open_client(server.base_url)
        assert api.http.get(CLAIMS).status_code == 200
        assert api.http.post(CLAIMS, json={}).status_code == 503
        assert server.methods() == ["GET", "GET", "POST"]


@pytest.mark.anyio
class TestTheAsyncClient:
    """The same transport under the async client: the same calls are sent again."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    async def test_a_get_is_retried_on_503_and_a_post_with_a_key_on_a_dropped_connection(
        self, server: ScriptedServer
    ) -> None:
        async with AsyncClaimTrackerClient(server.base_url, backoff=0.001) as api:
            server.script(503, 200)
            assert await api.get("/claims") == OK
            assert server.methods() == ["GET", "GET"]
            server.script(Silence.CLOSE, 200)
            await api.import_records([{"external_id": "x:1", "statement": "One."}])
            assert server.methods() == ["GET", "GET", "POST", "POST"]

    async def test_a_post_without_a_key_is_not_retried(self, server: ScriptedServer) -> None:
        server.script(Silence.CLOSE, 200)
        async with AsyncClaimTrackerClient(server.base_url, backoff=0.001) as api:
            with pytest.raises(ClientError) as caught:
                await api.create_claim({"statement": "A claim."})
        assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
        assert server.methods() == ["POST"]
