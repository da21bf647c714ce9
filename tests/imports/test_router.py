"""POST /imports, GET /exports and ClaimReview over HTTP (both backends, the test's database)."""

import orjson
from starlette.testclient import TestClient

from app.auth.actor import Role
from tests.conftest import MakeClient

RECORDS = [
    {
        "external_id": "t:1",
        "statement": "The river is dry.",
        "speaker": "Jane Roe",
        "outlet": {"name": "Daily Planet", "kind": "newspaper"},
        "topics": ["water"],
        "status": "false",
        "verdict": "It runs.",
        "evidence": [{"title": "Gauge", "url": "https://example.org/gauge", "note": "rated false"}],
        "sources": [{"url": "https://example.org/a", "title": "A", "role": "origin"}],
    },
    {"external_id": "t:2", "statement": "The sea is salty.", "speaker": {"name": "jane roe"}},
]


def ndjson(records: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def post(client: TestClient, records: list[dict], **params: str) -> object:
    return client.post(
        "/api/v1/imports",
        content=ndjson(records),
        params=params,
        headers={"Content-Type": "application/x-ndjson"},
    )


def revision_count(client: TestClient) -> int:
    return len(client.get("/api/v1/changes", params={"limit": 200}).json()["items"])


class TestImport:
    def test_creates_claims_matching_speakers_by_name(self, client: TestClient) -> None:
        response = post(client, RECORDS)
        assert response.status_code == 200, response.text
        summary = response.json()
        assert (summary["created"], summary["failed"]) == (2, 0)
        claims = client.get("/api/v1/claims", params={"sort": "id"}).json()["items"]
        assert claims[0]["speaker_id"] == claims[1]["speaker_id"]
        assert claims[0]["status"] == "false"

    def test_revisions_carry_the_batch_id(self, client: TestClient) -> None:
        batch_id = post(client, RECORDS).json()["batch_id"]
        items = client.get("/api/v1/changes", params={"limit": 200}).json()["items"]
        assert items
        assert all(item["request_id"] == batch_id for item in items)
        assert all(item["reason"] == f"import {batch_id}" for item in items)

    def test_a_second_run_is_unchanged_and_records_nothing(self, client: TestClient) -> None:
        post(client, RECORDS)
        before = revision_count(client)
        summary = post(client, RECORDS).json()
        assert (summary["unchanged"], summary["created"], summary["updated"]) == (2, 0, 0)
        assert revision_count(client) == before

    def test_a_changed_record_updates(self, client: TestClient) -> None:
        post(client, RECORDS)
        changed = [{**RECORDS[1], "statement": "The sea is very salty."}]
        assert post(client, changed).json()["updated"] == 1

    def test_dry_run_writes_nothing(self, client: TestClient) -> None:
        summary = post(client, RECORDS, dry_run="true").json()
        assert summary["created"] == 2
        assert summary["dry_run"] is True
        assert client.get("/api/v1/claims").json()["items"] == []

    def test_a_bad_record_refuses_the_batch_with_every_error(self, client: TestClient) -> None:
        bad = [
            *RECORDS,
            {"external_id": "t:3"},
            {"external_id": "t:4", "statement": "x", "status": "nope", "verdict": "v"},
        ]
        response = post(client, bad)
        assert response.status_code == 422
        errors = response.json()["errors"]
        assert {(e["index"], e["field"]) for e in errors} == {(2, "statement"), (3, "status")}
        assert client.get("/api/v1/claims").json()["items"] == []

    def test_on_error_skip_imports_the_rest(self, client: TestClient) -> None:
        response = post(client, [*RECORDS, {"external_id": "t:3"}], on_error="skip")
        assert response.status_code == 200
        assert (response.json()["created"], response.json()["failed"]) == (2, 1)

    def test_a_checker_cannot_import_verdicts(self, make_client: MakeClient) -> None:
        checker = make_client(Role.checker)
        response = post(checker, RECORDS, on_error="skip")
        body = response.json()
        assert (body["created"], body["failed"]) == (1, 1)
        assert body["errors"][0]["field"] == "status"
        assert "editor" in body["errors"][0]["message"]

    def test_a_json_array_is_accepted(self, client: TestClient) -> None:
        assert client.post("/api/v1/imports", json=RECORDS).json()["created"] == 2

    def test_ndjson_is_still_refused_elsewhere(self, client: TestClient) -> None:
        response = client.post(
            "/api/v1/claims", content=b"{}", headers={"Content-Type": "application/x-ndjson"}
        )
        assert response.status_code == 415

    def test_too_many_records_is_413(self, make_client: MakeClient) -> None:
        small = make_client(Role.editor, import_max_records=1)
        assert post(small, RECORDS).status_code == 413


class TestIdempotencyKey:
    def headers(self, key: str) -> dict[str, str]:
        return {"Content-Type": "application/x-ndjson", "Idempotency-Key": key}

    def test_a_retry_replays_the_first_answer(self, client: TestClient) -> None:
        first = client.post("/api/v1/imports", content=ndjson(RECORDS), headers=self.headers("k"))
        again = client.post("/api/v1/imports", content=ndjson(RECORDS), headers=self.headers("k"))
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"

    def test_the_same_key_with_another_body_is_422(self, client: TestClient) -> None:
        client.post("/api/v1/imports", content=ndjson(RECORDS), headers=self.headers("k2"))
        other = client.post(
            "/api/v1/imports", content=ndjson(RECORDS[:1]), headers=self.headers("k2")
        )
        assert other.status_code == 422


class TestExportAndClaimReview:
    def test_ndjson_export_gives_import_records(self, client: TestClient) -> None:
        post(client, RECORDS)
        lines = client.get("/api/v1/exports", params={"format": "ndjson"}).content.splitlines()
        records = {r["external_id"]: r for r in map(orjson.loads, lines)}
        assert records["t:1"]["status"] == "false"
        assert records["t:1"]["speaker"]["name"] == "Jane Roe"
        assert records["t:1"]["evidence"][0]["url"] == "https://example.org/gauge"

    def test_export_filters(self, client: TestClient) -> None:
        post(client, RECORDS)
        lines = client.get("/api/v1/exports", params={"status": "false"}).content.splitlines()
        assert len(lines) == 1

    def test_csv_export_has_a_header_and_a_row_per_claim(self, client: TestClient) -> None:
        post(client, RECORDS)
        text = client.get("/api/v1/exports", params={"format": "csv"}).text
        assert text.splitlines()[0].startswith("external_id,statement")
        assert len(text.splitlines()) == 3

    def test_claimreview_of_a_rated_claim(self, client: TestClient) -> None:
        post(client, RECORDS)
        claim = client.get("/api/v1/claims", params={"status": "false"}).json()["items"][0]
        review = client.get(f"/api/v1/claims/{claim['id']}/claimreview").json()
        assert review["reviewRating"]["ratingValue"] == 1
        assert review["reviewRating"]["bestRating"] == 5
        assert review["itemReviewed"]["author"]["name"] == "Jane Roe"
        assert review["itemReviewed"]["firstAppearance"]["url"] == "https://example.org/a"

    def test_an_unverified_claim_has_no_claimreview(self, client: TestClient) -> None:
        post(client, RECORDS)
        claim = client.get("/api/v1/claims", params={"status": "unverified"}).json()["items"][0]
        response = client.get(f"/api/v1/claims/{claim['id']}/claimreview")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
