"""The matcher, on both backends: every new claim's similar claims stored as suggestions,
derived from the change feed after the commit, whatever created the claim; each page stored
once, nothing lost when a turn stops half-way."""

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.db import Database, make_engine
from app.core.settings import Settings
from app.matching import matcher, suggestions
from app.matching import router as matching_router
from app.schema.migrate import upgrade
from app.web.lifecycle import RequestCounts
from tests import factories
from tests.conftest import MakeClient, drop_pg_database, fresh_database_url, new_key_in
from tests.helpers import API, created
from tests.servers import running_server

STATEMENT = "Two Ukrainian Mi-24 helicopters struck an oil depot in Belgorod with rockets."
NEAR = "Ukrainian Mi-24 helicoptres struck the oil depot in Belgorod, with rockets."
OTHER = "The central bank raised its interest rates again in June."
MATCH_CURSOR = "7e09f8167180"  # migrations/versions/2026-11-30_match_cursor.py


def turn(db: Database, claims: int = 50) -> int | None:
    return asyncio.run(matcher.take_turn(db, claims=claims, threshold=0.75))


def imported(client: TestClient, *statements: str) -> None:
    records = [{"external_id": f"x:{n}", "statement": text} for n, text in enumerate(statements)]
    response = client.post(f"{API}/imports", json=records)
    assert response.status_code == 200, response.text


def claim_ids(client: TestClient) -> list[int]:
    return sorted(item["id"] for item in client.get(f"{API}/claims").json()["items"])


def suggested(client: TestClient | httpx.Client) -> list[tuple[int, int]]:
    items = client.get(f"{API}/matches", params={"state": "suggested"}).json()["items"]
    return sorted((item["claim_id"], item["other_id"]) for item in items)


@pytest.fixture
def quiet_client(make_client: MakeClient) -> TestClient:
    """A client on an app whose lifespan runs no matcher: the test takes the turns."""
    return make_client(similar_matcher=False)


class TestTurns:
    def test_an_imported_claim_gets_its_near_duplicates_suggested_after_the_commit(
        self, quiet_client: TestClient, db: Database
    ) -> None:
        stored = created(quiet_client, f"{API}/claims", {"statement": STATEMENT})
        response = quiet_client.post(
            f"{API}/imports",
            json=[
                {"external_id": "x:1", "statement": NEAR},
                {"external_id": "x:2", "statement": OTHER},
            ],
        )
        assert response.status_code == 200, response.text
        assert response.json()["duplicates"] == []  # the import itself reports exact ones only
        assert suggested(quiet_client) == []
        assert turn(db) == 2
        (pair,) = suggested(quiet_client)
        assert pair[0] == stored["id"]
        match = quiet_client.get(f"{API}/matches").json()["items"][0]
        assert match["method"] in {"bm25", "trigram"}
        assert match["score"] >= 0.75
        assert turn(db) is None  # the feed shows nothing new

    def test_a_post_answers_and_then_its_turn_stores_the_suggestion(
        self, quiet_client: TestClient
    ) -> None:
        first = created(quiet_client, f"{API}/claims", {"statement": STATEMENT})
        response = quiet_client.post(f"{API}/claims", json={"statement": NEAR})
        assert response.status_code == 201
        link = f'</api/v1/claims/{response.json()["id"]}/similar>; rel="similar"'
        assert response.headers["Link"] == link
        assert suggested(quiet_client) == [(first["id"], response.json()["id"])]

    def test_a_posts_turn_is_left_to_the_background_while_other_requests_are_served(
        self, quiet_client: TestClient, db: Database, settings: Settings
    ) -> None:
        created(quiet_client, f"{API}/claims", {"statement": STATEMENT})
        imported(quiet_client, NEAR)
        busy = RequestCounts(in_flight=2)  # this request and another one
        asyncio.run(matching_router._match_new_claims(db, settings, busy))
        assert suggested(quiet_client) == []
        # Alone now, but two were served at once a moment ago (a group commit's answers).
        crowded = RequestCounts(in_flight=1, crowded_at=time.monotonic())
        asyncio.run(matching_router._match_new_claims(db, settings, crowded))
        assert suggested(quiet_client) == []
        listener = RequestCounts(in_flight=2, listening=1)  # and an open event stream
        asyncio.run(matching_router._match_new_claims(db, settings, listener))
        assert len(suggested(quiet_client)) == 1

    def test_a_turn_takes_at_most_its_number_of_new_claims(
        self, session: Session, db: Database
    ) -> None:
        for n in range(3):
            factories.claim(session, statement=f"{STATEMENT} Variant {n}.", original_quote=None)
        session.commit()
        assert [turn(db, claims=2), turn(db, claims=2), turn(db, claims=2)] == [2, 1, None]

    def test_a_deleted_claim_is_not_matched(self, quiet_client: TestClient, db: Database) -> None:
        imported(quiet_client, STATEMENT, NEAR)
        _, gone = claim_ids(quiet_client)
        response = quiet_client.delete(
            f"{API}/claims/{gone}", params={"reason": "test"}, headers={"If-Match": '"v1"'}
        )
        assert response.status_code == 200, response.text
        assert turn(db) == 1  # the live one, whose only near duplicate is deleted
        assert suggested(quiet_client) == []


class TestOneStorePerPage:
    def test_two_turns_reading_the_same_page_store_it_once(
        self, quiet_client: TestClient, db: Database
    ) -> None:
        created(quiet_client, f"{API}/claims", {"statement": STATEMENT})
        imported(quiet_client, NEAR)

        first = asyncio.run(matcher.read(db, claims=50, threshold=0.75))
        second = asyncio.run(matcher.read(db, claims=50, threshold=0.75))
        assert first is not None
        assert second is not None
        assert first.found == second.found
        stored = [asyncio.run(matcher.store(db, turn)) for turn in (first, second)]
        assert stored == [True, False]
        assert len(suggested(quiet_client)) == 1

    def test_a_page_read_but_never_stored_is_taken_by_the_next_turn(
        self, quiet_client: TestClient, db: Database
    ) -> None:
        created(quiet_client, f"{API}/claims", {"statement": STATEMENT})
        imported(quiet_client, NEAR)
        # A process stopped between its read and its write: the cursor did not move.
        before = asyncio.run(db.read(suggestions.cursor))
        assert asyncio.run(matcher.read(db, claims=50, threshold=0.75))
        assert asyncio.run(db.read(suggestions.cursor)) == before
        assert turn(db) == 1
        assert len(suggested(quiet_client)) == 1

    def test_a_turn_asked_while_this_process_takes_one_leaves_the_page_to_that_one(
        self, quiet_client: TestClient, db: Database
    ) -> None:
        created(quiet_client, f"{API}/claims", {"statement": STATEMENT})
        imported(quiet_client, NEAR)
        with matcher._turn_locks.setdefault(db, threading.Lock()):  # a turn under way
            assert turn(db) is None
        assert suggested(quiet_client) == []
        assert turn(db) == 1


class TestTheLifespanMatcher:
    def test_a_real_server_matches_an_imports_claims_and_a_restart_goes_on_from_the_cursor(
        self, migrated_database_url: str
    ) -> None:
        key = new_key_in(migrated_database_url)
        records = [{"external_id": f"x:{n}", "statement": NEAR} for n in range(3)]
        env = {"CLAIMS_SIMILAR_MATCH_SECONDS": "0.05"}
        off = {"CLAIMS_SIMILAR_MATCHER": "false"}
        with (
            running_server(migrated_database_url, env=off, api_key=key) as server,
            httpx.Client(base_url=server.base_url, headers=server.headers) as client,
        ):
            stored = created(client, f"{API}/claims", {"statement": STATEMENT})
            # Imported by a process without the matcher: nothing but the exact pairs yet.
            assert client.post(f"{API}/imports", json=records).status_code == 200
            exact = suggested(client)
            assert len(exact) == 3  # the three imported rows repeat each other exactly
        with (
            running_server(migrated_database_url, env=env, api_key=key) as server,
            httpx.Client(base_url=server.base_url, headers=server.headers) as client,
        ):
            deadline = time.monotonic() + 30
            while len(suggested(client)) < 6 and time.monotonic() < deadline:
                time.sleep(0.1)
            pairs = suggested(client)
        # Each imported claim met the stored one too, once, and nothing twice.
        assert sorted(set(pairs)) == pairs
        assert {low for low, _ in pairs if low == stored["id"]} == {stored["id"]}
        assert len(pairs) == 6, server.log()


class TestTheMigration:
    def test_the_cursor_starts_at_the_end_of_the_history_already_stored(
        self, backend: str, tmp_path: Path
    ) -> None:
        url = fresh_database_url(backend, tmp_path)
        try:
            parent = "dfa4e6e00333"
            upgrade(url, parent)
            engine = make_engine(url)
            database = Database(engine)
            with database.session(write=True) as session:
                factories.claim(session, statement=STATEMENT, original_quote=None)
                session.commit()
            upgrade(url, MATCH_CURSOR)
            asyncio.run(database.close())
            with engine.connect() as conn:
                last = conn.execute(sa.text("SELECT max(id) FROM revision")).scalar()
                assert last
                assert suggestions.cursor(conn) == last
            engine.dispose()
        finally:
            if backend == "postgresql":
                drop_pg_database(url)
