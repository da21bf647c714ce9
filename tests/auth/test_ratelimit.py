"""Rate limits (docs/security.md): per key, per address without a key, and a per-address
failed-authentication limit that locks the address out, a correct key included.

The clock is frozen (the ``limits`` memory storage and the Retry-After arithmetic read the
same fake), so windows end when a test says so and no test sleeps."""

from collections.abc import Callable, Iterator
from typing import Any

import limits.storage.memory
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from app.auth import ratelimit
from app.auth.actor import Role
from app.core.db import Database
from app.core.settings import Settings
from app.main import create_app
from tests.conftest import bearer, create_key
from tests.helpers import PROBLEM

CLAIMS = "/api/v1/claims"
WRONG_KEY = {"Authorization": "Bearer ct_0123abcd_" + "a" * 43}


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1_000_000.25

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock()
    monkeypatch.setattr(limits.storage.memory, "time", frozen)
    monkeypatch.setattr(ratelimit, "time", frozen)
    return frozen


Connect = Callable[..., TestClient]


@pytest.fixture
def connect(db: Database, settings: Settings) -> Iterator[Connect]:
    """``connect(address, **settings)``: a client calling from ``address``. Clients made with
    the same settings share one app (one set of counters), as callers of one server do."""
    apps: dict[str, Any] = {}
    clients: list[TestClient] = []

    def make(address: str = "10.0.0.1", **overrides: Any) -> TestClient:
        key = repr(sorted(overrides.items()))
        if key not in apps:
            apps[key] = create_app(settings.model_copy(update=overrides), database=db)
        client = TestClient(apps[key], client=(address, 50000))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def statuses(client: TestClient, count: int, **kwargs: Any) -> list[int]:
    return [client.get(CLAIMS, **kwargs).status_code for _ in range(count)]


def assert_too_many(response: Any, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == str(retry_after)
    body = response.json()
    assert body["status"] == 429
    assert body["retry_after"] == retry_after


class TestPerKey:
    def test_the_request_after_the_limit_is_429_with_retry_after(
        self, connect: Connect, db: Database, clock: FrozenClock
    ) -> None:
        client = connect(rate_limit_per_minute=3)
        key = bearer(create_key(db, Role.reader))
        assert statuses(client, 3, headers=key) == [200, 200, 200]
        clock.advance(20)
        assert_too_many(client.get(CLAIMS, headers=key), retry_after=40)

    def test_the_key_may_call_again_once_the_window_has_passed(
        self, connect: Connect, db: Database, clock: FrozenClock
    ) -> None:
        client = connect(rate_limit_per_minute=1)
        key = bearer(create_key(db, Role.reader))
        assert statuses(client, 2, headers=key) == [200, 429]
        clock.advance(60)
        assert statuses(client, 2, headers=key) == [200, 429]

    def test_each_key_has_its_own_budget(self, connect: Connect, db: Database) -> None:
        client = connect(rate_limit_per_minute=1)
        first, second = (bearer(create_key(db, Role.reader)) for _ in range(2))
        assert statuses(client, 2, headers=first) == [200, 429]
        assert statuses(client, 1, headers=second) == [200]

    def test_a_key_is_limited_across_addresses(self, connect: Connect, db: Database) -> None:
        key = bearer(create_key(db, Role.reader))
        here, there = (connect(addr, rate_limit_per_minute=1) for addr in ("10.0.0.1", "10.0.0.2"))
        assert statuses(here, 1, headers=key) == [200]
        assert statuses(there, 1, headers=key) == [429]

    def test_writes_are_limited_too(self, connect: Connect, db: Database) -> None:
        client = connect(rate_limit_per_minute=1)
        key = bearer(create_key(db, Role.editor))
        assert client.post(CLAIMS, json={"statement": "x"}, headers=key).status_code == 201
        assert_too_many(client.post(CLAIMS, json={"statement": "y"}, headers=key), 60)


class TestPerAddressWithoutAKey:
    def test_anonymous_readers_are_limited_by_address(self, connect: Connect) -> None:
        client = connect(public_read=True, rate_limit_per_minute=2)
        assert statuses(client, 3) == [200, 200, 429]

    def test_different_addresses_are_independent(self, connect: Connect) -> None:
        here, there = (
            connect(addr, public_read=True, rate_limit_per_minute=1)
            for addr in ("10.0.0.1", "10.0.0.2")
        )
        assert statuses(here, 2) == [200, 429]
        assert statuses(there, 1) == [200]

    def test_an_address_out_of_anonymous_budget_may_still_use_a_key(
        self, connect: Connect, db: Database
    ) -> None:
        client = connect(public_read=True, rate_limit_per_minute=1)
        assert statuses(client, 2) == [200, 429]
        assert statuses(client, 1, headers=bearer(create_key(db, Role.reader))) == [200]


class TestFailedAuthentication:
    def test_failed_keys_are_401_until_the_limit(self, connect: Connect) -> None:
        client = connect(rate_limit_failed_auth_per_minute=2)
        assert statuses(client, 2, headers=WRONG_KEY) == [401, 401]
        assert_too_many(client.get(CLAIMS, headers=WRONG_KEY), retry_after=60)

    def test_an_address_over_the_limit_is_refused_even_with_a_valid_key(
        self, connect: Connect, db: Database, clock: FrozenClock
    ) -> None:
        client = connect(rate_limit_failed_auth_per_minute=2)
        valid = bearer(create_key(db, Role.admin))
        assert statuses(client, 2, headers=WRONG_KEY) == [401, 401]
        clock.advance(15)
        assert_too_many(client.get(CLAIMS, headers=valid), retry_after=45)
        assert_too_many(client.post(CLAIMS, json={"statement": "x"}, headers=valid), 45)

    def test_a_correct_guess_past_the_limit_does_not_get_in(
        self, connect: Connect, db: Database
    ) -> None:
        client = connect(rate_limit_failed_auth_per_minute=1)
        guessed = bearer(create_key(db, Role.admin))
        assert statuses(client, 1, headers=WRONG_KEY) == [401]
        assert client.get("/api/v1/keys", headers=guessed).status_code == 429

    def test_the_lockout_ends_with_the_window(
        self, connect: Connect, db: Database, clock: FrozenClock
    ) -> None:
        client = connect(rate_limit_failed_auth_per_minute=1)
        valid = bearer(create_key(db, Role.reader))
        assert statuses(client, 2, headers=WRONG_KEY) == [401, 429]
        clock.advance(59)
        assert statuses(client, 1, headers=valid) == [429]
        clock.advance(1)
        assert statuses(client, 1, headers=valid) == [200]

    def test_other_addresses_are_not_locked_out(self, connect: Connect, db: Database) -> None:
        guesser, colleague = (
            connect(addr, rate_limit_failed_auth_per_minute=1) for addr in ("10.0.0.1", "10.0.0.2")
        )
        valid = bearer(create_key(db, Role.reader))
        assert statuses(guesser, 2, headers=WRONG_KEY) == [401, 429]
        assert statuses(colleague, 1, headers=valid) == [200]
        assert statuses(colleague, 1, headers=WRONG_KEY) == [401]

    def test_a_locked_out_address_gets_no_public_reads_either(self, connect: Connect) -> None:
        client = connect(public_read=True, rate_limit_failed_auth_per_minute=1)
        assert statuses(client, 1, headers=WRONG_KEY) == [401]
        assert statuses(client, 1) == [429]

    def test_successful_requests_and_missing_keys_are_not_failures(
        self, connect: Connect, db: Database
    ) -> None:
        client = connect(rate_limit_failed_auth_per_minute=1)
        assert statuses(client, 5) == [401] * 5  # no key at all: not a guess
        assert statuses(client, 5, headers=bearer(create_key(db, Role.reader))) == [200] * 5

    def test_failures_do_not_spend_a_keys_budget(self, connect: Connect, db: Database) -> None:
        client = connect("10.0.0.1", rate_limit_per_minute=1, rate_limit_failed_auth_per_minute=5)
        valid = bearer(create_key(db, Role.reader))
        assert statuses(client, 3, headers=WRONG_KEY) == [401, 401, 401]
        assert statuses(client, 2, headers=valid) == [200, 429]


class TestOff:
    def test_zero_is_off_for_both_limits(self, connect: Connect, db: Database) -> None:
        client = connect(rate_limit_per_minute=0, rate_limit_failed_auth_per_minute=0)
        valid = bearer(create_key(db, Role.reader))
        assert set(statuses(client, 30, headers=WRONG_KEY)) == {401}
        assert set(statuses(client, 30, headers=valid)) == {200}

    def test_off_by_default(self, connect: Connect, db: Database) -> None:
        client = connect()
        assert set(statuses(client, 30, headers=WRONG_KEY)) == {401}
        assert set(statuses(client, 30, headers=bearer(create_key(db, Role.reader)))) == {200}

    def test_a_key_limit_of_zero_leaves_the_failure_limit_on(self, connect: Connect) -> None:
        client = connect(rate_limit_per_minute=0, rate_limit_failed_auth_per_minute=1)
        assert statuses(client, 2, headers=WRONG_KEY) == [401, 429]


class TestStore:
    @pytest.mark.parametrize("store", ["memory", "memory://"])
    def test_memory_is_the_store(self, store: str) -> None:
        assert Settings(rate_limit_store=store).rate_limit_store == "memory://"

    @pytest.mark.parametrize("store", ["redis", "redis://localhost:6379", "memcached://x"])
    def test_any_other_store_is_a_clear_startup_error(self, store: str) -> None:
        with pytest.raises(ValidationError, match="CLAIMS_RATE_LIMIT_STORE"):
            Settings(rate_limit_store=store)


class TestBehindATrustedProxy:
    """CLAIMS_TRUSTED_PROXIES: the per-address limits count the client the proxy names."""

    PROXY = "10.9.9.9"

    def test_each_forwarded_client_has_its_own_budget(self, connect: Connect) -> None:
        proxy = connect(
            self.PROXY, public_read=True, rate_limit_per_minute=1, trusted_proxies=[self.PROXY]
        )
        first, second = ({"X-Forwarded-For": addr} for addr in ("203.0.113.1", "203.0.113.2"))
        assert statuses(proxy, 2, headers=first) == [200, 429]
        assert statuses(proxy, 1, headers=second) == [200]

    def test_a_guesser_behind_the_proxy_locks_out_only_itself(
        self, connect: Connect, db: Database
    ) -> None:
        proxy = connect(
            self.PROXY, rate_limit_failed_auth_per_minute=1, trusted_proxies=[self.PROXY]
        )
        guesser = {"X-Forwarded-For": "203.0.113.66", **WRONG_KEY}
        assert statuses(proxy, 2, headers=guesser) == [401, 429]
        reader = {"X-Forwarded-For": "203.0.113.7", **bearer(create_key(db, Role.reader))}
        assert statuses(proxy, 1, headers=reader) == [200]

    def test_an_untrusted_peer_cannot_pick_its_address(self, connect: Connect) -> None:
        client = connect("10.0.0.1", public_read=True, rate_limit_per_minute=1)
        spoofs = ({"X-Forwarded-For": f"203.0.113.{n}"} for n in (1, 2))
        assert [client.get(CLAIMS, headers=h).status_code for h in spoofs] == [200, 429]


class TestTrustedProxiesSetting:
    @pytest.mark.parametrize("entry", ["*", "0.0.0.0/0", "::/0", "proxy.internal", "10.0.0.300"])
    def test_an_entry_that_trusts_everyone_or_is_no_address_stops_startup(self, entry: str) -> None:
        with pytest.raises(ValidationError, match="CLAIMS_TRUSTED_PROXIES"):
            Settings(trusted_proxies=[entry])

    def test_addresses_and_networks_are_taken(self) -> None:
        proxies = ["10.0.0.5", "10.1.0.0/16", "fd00::/8"]
        assert Settings(trusted_proxies=proxies).trusted_proxies == proxies
