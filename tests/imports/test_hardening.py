"""POST /imports against hostile bodies: huge appearance lists, @graph bombs, deep nesting,
dates that overflow in UTC, and Idempotency-Key rows past their 24 h (both backends)."""

import asyncio
from datetime import timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from app.auth.actor import Role
from app.core.base import utcnow
from app.core.db import Database
from app.imports import bodies
from app.imports.models import IdempotencyKey
from app.vocabulary import claimreview
from app.vocabulary.claim import MAX_APPEARANCES
from tests.conftest import MakeClient

API = "/api/v1"
NDJSON = {"Content-Type": "application/x-ndjson"}


def review(identifier: str, **item: Any) -> dict[str, Any]:
    return {
        "@type": "ClaimReview",
        "identifier": identifier,
        "claimReviewed": f"Claim {identifier}.",
        "reviewRating": {"alternateName": "False"},
        "itemReviewed": {"@type": "Claim", **item},
    }


def post_json(client: TestClient, data: Any, **params: str) -> Any:
    return client.post(
        f"{API}/imports",
        content=orjson.dumps(data),
        params=params,
        headers={"Content-Type": "application/json"},
    )


def nested(depth: int, leaf: Any = "x") -> bytes:
    """JSON nested ``depth`` lists deep (orjson refuses to write past 255 levels)."""
    return b"[" * depth + orjson.dumps(leaf) + b"]" * depth


def post_bytes(client: TestClient, body: bytes, **params: str) -> Any:
    headers = {"Content-Type": "application/json"}
    return client.post(f"{API}/imports", content=body, params=params, headers=headers)


class TestAppearanceCap:
    def test_thousands_of_appearances_refuse_the_record_naming_the_cap(
        self, client: TestClient
    ) -> None:
        urls = [f"https://ex.org/a/{i}" for i in range(8000)]
        response = post_json(client, review("big", appearance=urls), format="claimreview")
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert (error["index"], error["external_id"], error["field"]) == (0, "big", "sources")
        assert str(MAX_APPEARANCES) in error["message"]

    def test_repeated_urls_collapse_and_first_appearance_is_the_origin(
        self, client: TestClient
    ) -> None:
        urls = ["https://ex.org/a", "https://ex.org/b"] * 500
        body = review("dup", appearance=urls, firstAppearance={"url": "https://ex.org/b"})
        assert post_json(client, body, format="claimreview").status_code == 200
        claim = client.get(f"{API}/claims").json()["items"][0]
        found = client.get(f"{API}/claims/{claim['id']}/appearances").json()["items"]
        assert sorted(item["role"] for item in found) == ["origin", "report"]

    def test_a_url_that_is_not_a_string_fails_the_record_not_the_server(
        self, client: TestClient
    ) -> None:
        body = review("odd", firstAppearance={"url": {"not": "a url"}})
        response = post_json(client, body, format="claimreview")
        assert response.status_code == 422
        assert response.json()["errors"][0]["external_id"] == "odd"

    def test_an_update_may_not_take_a_claim_past_the_cap(self, client: TestClient) -> None:
        sources = [{"url": f"https://ex.org/s/{i}"} for i in range(MAX_APPEARANCES)]
        record = {"external_id": "full", "statement": "Full.", "sources": sources}
        assert post_json(client, [record]).status_code == 200
        more = {**record, "sources": [{"url": "https://ex.org/s/one-more"}]}
        response = post_json(client, [more])
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert (error["index"], error["external_id"]) == (0, "full")
        assert str(MAX_APPEARANCES) in error["message"]

    def test_the_single_appearance_route_keeps_the_cap(self, client: TestClient) -> None:
        sources = [{"url": f"https://ex.org/s/{i}"} for i in range(MAX_APPEARANCES)]
        post_json(client, [{"external_id": "full", "statement": "Full.", "sources": sources}])
        claim = client.get(f"{API}/claims").json()["items"][0]
        source = client.post(f"{API}/sources", json={"url": "https://ex.org/s/extra"}).json()
        response = client.post(
            f"{API}/claims/{claim['id']}/appearances", json={"source_id": source["id"]}
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert str(MAX_APPEARANCES) in response.json()["detail"]


class TestOffTheEventLoop:
    def test_parsing_and_mapping_run_in_a_worker_thread(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        on_loop: list[str] = []

        def spy(name: str, real: Any) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                try:
                    asyncio.get_running_loop()
                    on_loop.append(name)
                except RuntimeError:  # no running loop: a worker thread
                    pass
                return real(*args, **kwargs)

            return call

        monkeypatch.setattr(bodies, "parse_body", spy("parse", bodies.parse_body))
        mapping = claimreview.records_from_jsonld
        monkeypatch.setattr(claimreview, "records_from_jsonld", spy("map", mapping))
        response = post_json(client, review("loop"), format="claimreview")
        assert response.status_code == 200, response.text
        assert on_loop == []


class TestRecordCapAfterExpansion:
    def test_a_graph_of_more_reviews_than_the_cap_is_413(self, make_client: MakeClient) -> None:
        small = make_client(Role.editor, import_max_records=2)
        graph = {"@context": "https://schema.org", "@graph": [review(f"g{i}") for i in range(3)]}
        response = post_json(small, graph, format="claimreview")
        assert response.status_code == 413, response.text
        assert response.json()["max_records"] == 2

    def test_a_data_feed_at_the_cap_is_accepted(self, make_client: MakeClient) -> None:
        small = make_client(Role.editor, import_max_records=2)
        feed = {"@type": "DataFeed", "dataFeedElement": [review("f1"), review("f2")]}
        assert post_json(small, feed, format="claimreview").json()["created"] == 2


class TestDeepNesting:
    def test_a_deep_claimreview_graph_is_400(self, client: TestClient) -> None:
        body = b'{"@graph": ' + nested(600, review("deep")) + b"}"
        response = post_bytes(client, body, format="claimreview")
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "nest" in response.json()["detail"]

    def test_a_deep_claimreview_field_is_400(self, client: TestClient) -> None:
        body = orjson.dumps(review("deep", author="AUTHOR"))
        body = body.replace(b'"AUTHOR"', nested(600, {"name": "A"}))
        assert post_bytes(client, body, format="claimreview").status_code == 400

    def test_a_deep_records_body_is_400(self, client: TestClient) -> None:
        body = b'[{"external_id": "d", "statement": "Deep.", "topics": ' + nested(600) + b"}]"
        assert post_bytes(client, body).status_code == 400

    def test_a_deep_ndjson_line_is_400_naming_the_line(self, client: TestClient) -> None:
        lines = b'{"external_id": "a", "statement": "A."}\n' + nested(600) + b"\n"
        response = client.post(f"{API}/imports", content=lines, headers=NDJSON)
        assert response.status_code == 400, response.text
        assert response.json()["line"] == 2

    def test_nesting_past_the_parser_limit_is_400(self, client: TestClient) -> None:
        body = b"[" * 5000 + b"]" * 5000
        response = client.post(
            f"{API}/imports", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400

    def test_the_usual_claimreview_feed_nesting_is_accepted(self, client: TestClient) -> None:
        feed = {
            "@type": "DataFeed",
            "dataFeedElement": [
                {"@type": "DataFeedItem", "item": [review("n1", author={"name": "Ann"})]}
            ],
        }
        assert post_json(client, feed, format="claimreview").json()["created"] == 1


class TestDatesThatOverflowInUtc:
    @pytest.mark.parametrize("when", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
    def test_claimed_at_fails_the_record(self, client: TestClient, when: str) -> None:
        record = {"external_id": "tz", "statement": "Then.", "claimed_at": when}
        response = post_json(client, [record])
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert (error["index"], error["external_id"], error["field"]) == (0, "tz", "claimed_at")

    @pytest.mark.parametrize("when", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
    def test_a_source_published_at_fails_the_record(self, client: TestClient, when: str) -> None:
        source = {"url": "https://ex.org/tz", "published_at": when}
        record = {"external_id": "tz", "statement": "Then.", "sources": [source]}
        response = post_json(client, [record], on_error="skip")
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["created"], body["failed"]) == (0, 1)
        assert body["errors"][0]["field"] == "sources.0.published_at"

    def test_a_claimreview_date_published_fails_the_record(self, client: TestClient) -> None:
        body = review("tz", datePublished="9999-12-31T23:59:59-05:00")
        response = post_json(client, body, format="claimreview")
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "claimed_at"


class TestIdempotencyKeyExpiry:
    RECORD = {"external_id": "idem", "statement": "Once."}

    def store(self, db: Database, key: str, age: timedelta, caller_id: int) -> None:
        assert db.bind is not None
        db.bind.execute(
            sa.insert(IdempotencyKey.__table__),  # type: ignore[attr-defined]
            {
                "caller_id": caller_id,
                "key": key,
                "fingerprint": "0" * 64,
                "status_code": 200,
                "response_body": b'{"old": true}',
                "created_at": utcnow() - age,
            },
        )

    def keys(self, db: Database) -> set[str]:
        assert db.bind is not None
        table = IdempotencyKey.__table__  # type: ignore[attr-defined]
        return set(db.bind.execute(sa.select(table.c.key)).scalars())

    def post(self, client: TestClient, key: str) -> Any:
        return client.post(
            f"{API}/imports",
            content=orjson.dumps([self.RECORD]),
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )

    def test_an_expired_key_is_a_new_request(self, client: TestClient, db: Database) -> None:
        first = self.post(client, "k-old")
        assert first.status_code == 200
        assert db.bind is not None
        table = IdempotencyKey.__table__  # type: ignore[attr-defined]
        db.bind.execute(sa.update(table).values(created_at=utcnow() - timedelta(hours=25)))
        again = self.post(client, "k-old")
        assert again.status_code == 200
        assert "Idempotent-Replayed" not in again.headers
        assert again.json()["batch_id"] != first.json()["batch_id"]

    def test_a_key_within_24_hours_replays(self, client: TestClient, db: Database) -> None:
        first = self.post(client, "k-young")
        assert db.bind is not None
        table = IdempotencyKey.__table__  # type: ignore[attr-defined]
        db.bind.execute(sa.update(table).values(created_at=utcnow() - timedelta(hours=23)))
        again = self.post(client, "k-young")
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()

    def test_a_keyed_import_purges_every_expired_key(
        self, client: TestClient, db: Database
    ) -> None:
        for number in range(3):
            self.store(db, f"stale-{number}", timedelta(hours=24, minutes=1), caller_id=number)
        self.store(db, "fresh", timedelta(hours=1), caller_id=99)
        assert self.post(client, "k-new").status_code == 200
        assert self.keys(db) == {"fresh", "k-new"}
