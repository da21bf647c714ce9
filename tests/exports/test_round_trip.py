"""An exported record imports back to the same claim: every claim field an import record
carries (app.imports.fields.CLAIM_FIELDS, derived from the models) goes out and comes back."""

from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from app.imports.fields import CLAIM_FIELDS

API = "/api/v1"
# Every claim field an import record carries, each set away from its default.
CLAIM = {
    "external_id": "rt:1",
    "statement": "The bridge at Zaporizhzhia was closed all week.",
    "language": "nl",
    "original_quote": "De brug was de hele week dicht.",
    "original_language": "uk",
    "claimed_at": "2024-03-01T12:30:00Z",
    "context": "Evening news",
    "place": "Zaporizhzhia",
    "topics": ["bridges", "traffic"],
}


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def import_records(client: TestClient, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post(
        f"{API}/imports", content=ndjson(records), headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    return summary


def exported(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get(f"{API}/exports", params={"format": "ndjson"})
    assert response.status_code == 200, response.text
    records = [orjson.loads(line) for line in response.content.splitlines()]
    return {record["external_id"]: record for record in records}


def claim_by_external_id(client: TestClient, external_id: str) -> dict[str, Any]:
    for claim in client.get(f"{API}/claims", params={"limit": 200}).json()["items"]:
        if claim["external_id"] == external_id:
            return dict(claim)
    raise AssertionError(f"no claim {external_id}")


@pytest.fixture
def stored(client: TestClient) -> dict[str, Any]:
    """The claim, with a speaker and an outlet, made through the API (not an import)."""
    speaker = client.post(f"{API}/speakers", json={"name": "Ivan Fedorov"}).json()
    outlet = client.post(f"{API}/outlets", json={"name": "Suspilne", "kind": "broadcaster"})
    assert outlet.status_code == 201, outlet.text
    body = {**CLAIM, "speaker_id": speaker["id"], "outlet_id": outlet.json()["id"]}
    response = client.post(f"{API}/claims", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


class TestTheClaimFields:
    def test_are_all_set_by_this_tests_claim(self) -> None:
        # A field added to the models must be added here too, or the round trip misses it.
        assert list(CLAIM) == list(CLAIM_FIELDS)


class TestAnExportedRecord:
    def test_carries_every_claim_field(self, client: TestClient, stored: dict[str, Any]) -> None:
        record = exported(client)["rt:1"]
        for name in CLAIM_FIELDS:
            assert name in record, name
        assert record["speaker"]["name"] == "Ivan Fedorov"
        assert record["outlet"]["name"] == "Suspilne"

    def test_imports_as_a_new_claim_with_the_same_fields(
        self, client: TestClient, stored: dict[str, Any]
    ) -> None:
        record = {**exported(client)["rt:1"], "external_id": "rt:copy"}
        summary = import_records(client, [record])
        assert (summary["created"], summary["failed"]) == (1, 0), summary
        copy = claim_by_external_id(client, "rt:copy")
        for name in [*CLAIM_FIELDS, "speaker_id", "outlet_id"]:
            if name != "external_id":
                assert copy[name] == stored[name], name

    def test_imports_over_its_own_claim_as_unchanged(
        self, client: TestClient, stored: dict[str, Any]
    ) -> None:
        summary = import_records(client, [exported(client)["rt:1"]])
        assert (summary["unchanged"], summary["updated"], summary["failed"]) == (1, 0, 0), summary
        assert claim_by_external_id(client, "rt:1")["version"] == stored["version"]
