"""The unchanged records of a batch, compared in bulk (app/imports/unchanged.py), both backends:
a re-run writes nothing at all and reads in a few statements, and a batch mixing unchanged and
changed records answers exactly what the record path answers. And the importer's wait for a
batch, which a slow answer turns into a retry and a 409."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from sqlalchemy import event, func
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.client import importer
from app.core.db import Database
from app.core.settings import Settings
from app.history.models import Revision
from app.imports import unchanged

API = "/api/v1"


def record(number: int, **changes: Any) -> dict[str, Any]:
    """A record with every kind of value and reference a comparison has to get right."""
    base: dict[str, Any] = {
        "external_id": f"u:{number}",
        "statement": f"The bridge cost {number} million.",
        "claimed_at": "2024-03-01T12:00:00Z",
        "context": "a debate",
        "place": "Ohio",
        "topics": ["Bridges", "budget", "bridges"],
        "speaker": {"name": f"Speaker {number % 3}", "external_id": f"sp:{number % 3}"},
        "outlet": {"name": "The Courier"},
        "sources": [
            {"url": f"https://example.org/{number}", "role": "origin"},
            {"external_id": "src:wire", "url": "https://example.org/wire", "role": "report"},
        ],
        "evidence": [{"title": "Budget", "url": "https://example.org/budget", "note": "p. 4"}],
        "status": "false",
        "verdict": "  It cost less.  ",
    }
    if number % 2:
        base["speaker"] = f"Named Speaker {number % 4}"  # found by name, not external_id
    return {**base, **changes}


def post(client: TestClient, records: list[dict[str, Any]], **params: str) -> dict[str, Any]:
    response = client.post(
        f"{API}/imports",
        content=b"".join(orjson.dumps(r) + b"\n" for r in records),
        params=params,
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(summary: dict[str, Any]) -> tuple[int, int, int, int]:
    return summary["created"], summary["updated"], summary["unchanged"], summary["failed"]


def revision_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Revision)).one()


@contextmanager
def statements_on(db: Database) -> Iterator[list[str]]:
    """The SQL statements run on the test's connection meanwhile."""
    seen: list[str] = []

    def collect(*args: Any) -> None:
        seen.append(str(args[2]))

    assert db.bind is not None
    event.listen(db.bind, "before_cursor_execute", collect)
    try:
        yield seen
    finally:
        event.remove(db.bind, "before_cursor_execute", collect)


def versions(client: TestClient) -> dict[str, int]:
    items = client.get(f"{API}/claims", params={"limit": 200}).json()["items"]
    return {item["external_id"]: item["version"] for item in items}


def test_a_rerun_writes_nothing_and_reads_in_bulk(
    client: TestClient, session: Session, db: Database
) -> None:
    records = [record(number) for number in range(40)]
    assert counts(post(client, records)) == (40, 0, 0, 0)
    revisions = revision_count(session)
    with statements_on(db) as statements:
        assert counts(post(client, records)) == (0, 0, 40, 0)
    assert revision_count(session) == revisions
    data = [s for s in statements if s.split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}]
    assert [s for s in data if "api_key" not in s] == []
    # One by one, each record would take several statements; in bulk, a few for them all.
    assert len(statements) < 25, statements


def test_a_mixed_batch_answers_what_the_record_path_answers(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = [record(number) for number in range(10)]
    assert counts(post(client, stored)) == (10, 0, 0, 0)
    claim_id = {
        item["external_id"]: item["id"] for item in client.get(f"{API}/claims").json()["items"]
    }
    deleted = client.delete(
        f"{API}/claims/{claim_id['u:9']}",
        params={"reason": "duplicate"},
        headers={"If-Match": '"v1"'},
    )
    assert deleted.status_code == 200, deleted.text
    second = [
        record(0),  # unchanged
        record(1, topics=["budget", "bridges"]),  # another order: updated
        record(2, statement="The bridge cost more."),  # updated
        record(3, evidence=[*record(3)["evidence"], {"title": "Audit", "note": "p. 9"}]),  # updated
        record(4, status="mostly_false", verdict="Close."),  # updated (the verdict)
        record(5, sources=[{"url": "https://example.org/new", "role": "origin"}]),  # updated
        record(6, speaker={"name": "Somebody Else"}),  # a new speaker: updated
        record(7, verdict="It cost less."),  # stored stripped: unchanged
        record(8, topics=["bridges", "budget"], evidence=[], sources=[]),  # unchanged
        record(8),  # a repeat: the record path, unchanged
        record(9),  # deleted: failed
        record(10),  # new: created
        record(0, external_id="u:11", language=None),  # new and invalid: failed
    ]
    before = versions(client)
    revisions = revision_count(session)
    # The record path alone answers first (a dry run, rolled back); then the real run.
    monkeypatch.setattr(unchanged, "find_unchanged", lambda batch, candidates: set())
    by_record_path = post(client, second, on_error="skip", dry_run="true")
    monkeypatch.undo()
    summary = post(client, second, on_error="skip")
    assert counts(summary) == (1, 6, 4, 2)
    # The id a dry run's new claim got is not kept (PostgreSQL's sequences do not roll back):
    # the likely-duplicate reports are compared without it.
    for report in (*summary["duplicates"], *by_record_path["duplicates"]):
        report.pop("claim_id")
    assert {key: value for key, value in summary.items() if key != "batch_id"} == {
        key: value for key, value in by_record_path.items() if key not in {"batch_id", "dry_run"}
    } | {"dry_run": False}
    after = versions(client)
    changed = {key for key in before if after.get(key) != before[key]}
    assert changed == {"u:1", "u:2", "u:3", "u:4", "u:5", "u:6"}
    assert revision_count(session) > revisions


def test_a_deleted_speaker_is_left_to_the_record_path(client: TestClient) -> None:
    """The speaker the record names by external_id was deleted: the claim would not take it,
    and the record fails as it always did, rather than pass as unchanged."""
    first = record(0)
    assert counts(post(client, [first])) == (1, 0, 0, 0)
    speaker = client.get(f"{API}/speakers").json()["items"][0]
    deleted = client.delete(
        f"{API}/speakers/{speaker['id']}", params={"reason": "merged"}, headers={"If-Match": '"v1"'}
    )
    assert deleted.status_code == 200, deleted.text
    summary = post(client, [first], on_error="skip")
    assert counts(summary) == (0, 0, 0, 1)
    assert summary["errors"][0]["type"] == "reference_missing"
    # Also when a new record of the same batch, before it, named that speaker already.
    summary = post(client, [record(6), first], on_error="skip")
    assert counts(summary) == (0, 0, 0, 2)
    assert [error["type"] for error in summary["errors"]] == ["reference_missing"] * 2


def test_the_importer_waits_longer_for_bigger_batches() -> None:
    """A batch the client gives up on is retried and answered 409 while it still runs: the
    wait grows with the batch, from the client's usual 30 s at the default size."""
    assert importer.batch_timeout(500) == 30.0
    largest = Settings.model_fields["import_max_records"].default
    assert importer.batch_timeout(largest) >= largest * 0.02
