"""The batch path for new claims (app/imports/batch.py): the same rules and results as one write
after another, with one creation revision per claim (both backends). The one test of its
invariant, byte-identical revisions to the record path's, is
TestOneRevisionPerNewClaim.test_its_revisions_are_the_ones_the_record_path_would_write."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.auth.actor import CLI_ACTOR
from app.claims import service as claims_service
from app.claims.models import Claim, ClaimCreate
from app.core import errors
from app.core.db import BEGIN_IMMEDIATE, Database, make_engine
from app.history.hashing import canonical_json
from app.history.models import Revision
from app.history.verify import verify_history
from app.imports import idempotency
from app.imports import service as imports_service
from app.schema.migrate import upgrade
from app.speakers.models import Speaker
from app.tables import TRACKED_TABLES
from app.tracked.values import plain_snapshot
from app.vocabulary.enums import OnError
from tests.conftest import drop_pg_database, fresh_database_url

API = "/api/v1"
RATED = {
    "external_id": "b:1",
    "statement": "The dyke at Lith was breached.",
    "speaker": {"name": "Ann Lee", "aliases": ["A. Lee"]},
    "topics": ["Water", "water", "dykes"],
    "status": "false",
    "verdict": "  The dyke held.  ",
    "evidence": [
        {"title": "Water board", "url": "https://example.org/wb", "note": "no breach"},
        {"title": "Water board", "url": "https://example.org/wb", "note": "no breach"},
    ],
    "sources": [
        {"url": "https://example.org/post", "role": "origin"},
        {"url": "https://example.org/post", "role": "origin"},
    ],
}


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


def claim_by_external_id(client: TestClient, external_id: str) -> dict[str, Any]:
    for claim in client.get(f"{API}/claims", params={"limit": 200}).json()["items"]:
        if claim["external_id"] == external_id:
            return dict(claim)
    raise AssertionError(f"no claim {external_id}")


def stored_snapshot(session: Session, entity_type: str, entity_id: int | None) -> bytes:
    """The canonical bytes of the entity's one revision, as stored and hashed."""
    [revision] = session.exec(
        select(Revision).where(Revision.entity_type == entity_type, Revision.entity_id == entity_id)
    ).all()
    return canonical_json(revision.snapshot)


class TestOneRevisionPerNewClaim:
    def test_its_revisions_are_the_ones_the_record_path_would_write(
        self, client: TestClient, session: Session
    ) -> None:
        assert post(client, [RATED])["created"] == 1
        claim = claim_by_external_id(client, "b:1")
        history = client.get(f"{API}/claims/{claim['id']}/history").json()["items"]
        assert [item["action"] for item in history] == ["created"]
        snapshot = history[0]["snapshot"]
        assert (snapshot["status"], snapshot["review"]) == ("false", "settled")
        assert snapshot["verdict"] == "The dyke held."
        assert snapshot["topics"] == ["water", "dykes"]
        assert len(snapshot["evidence"]) == 1
        assert len(snapshot["appearances"]) == 1
        # Byte for byte what the one-at-a-time writes would have recorded for this claim.
        stored = session.get(Claim, claim["id"])
        assert stored is not None
        record_path = claims_service.CLAIMS.snapshot(session, stored)
        assert stored_snapshot(session, "claim", stored.id) == canonical_json(record_path)
        assert claim["head_hash"] == history[0]["hash"]
        # Likewise the speaker the batch created, and its alias index.
        speaker = session.get(Speaker, claim["speaker_id"])
        assert speaker is not None
        speaker_history = client.get(f"{API}/speakers/{speaker.id}/history").json()["items"]
        assert [item["action"] for item in speaker_history] == ["created"]
        expected = canonical_json(plain_snapshot(speaker))
        assert stored_snapshot(session, "speaker", speaker.id) == expected
        assert [
            s["id"] for s in client.get(f"{API}/speakers", params={"q": "a. lee"}).json()["items"]
        ] == [speaker.id]

    def test_the_chain_verifies_and_the_feed_names_the_batch(self, client: TestClient) -> None:
        batch_id = post(client, [RATED, {"external_id": "b:2", "statement": "Plain."}])["batch_id"]
        assert client.get(f"{API}/history/verify").json()["ok"] is True
        feed = client.get(f"{API}/changes", params={"limit": 200}).json()["items"]
        # Ann Lee, the source, and the two claims; each once.
        assert sorted(item["entity_type"] for item in feed) == [
            "claim",
            "claim",
            "source",
            "speaker",
        ]
        assert {item["request_id"] for item in feed} == {batch_id}

    def test_a_repeat_in_the_same_batch_updates_the_first(self, client: TestClient) -> None:
        changed = {**RATED, "statement": "The dyke at Lith was breached twice."}
        summary = post(client, [RATED, changed])
        assert (summary["created"], summary["updated"]) == (1, 1)
        claim = claim_by_external_id(client, "b:1")
        assert claim["statement"] == changed["statement"]
        assert claim["version"] == 2


class TestSpeakersResolveAsOneWriteAfterAnother:
    def test_external_ids_names_and_aliases_meet_in_one_speaker(self, client: TestClient) -> None:
        ann_1 = {"external_id": "p:1", "name": "Ann Lee"}
        ann_2 = {"external_id": "p:2", "name": "Ann Lee"}
        bob = {"name": "Bob Dee", "aliases": ["Robert Dee"]}
        speakers = [
            ann_1,
            "ann lee",
            ann_2,  # a new external_id whose name is taken: matched by name, as one by one
            bob,
            "Róbert Dée",  # an alias, folded
            "Cas Lo",
        ]
        records = [
            {"external_id": f"s:{n}", "statement": f"claim {n}", "speaker": speaker}
            for n, speaker in enumerate(speakers, start=1)
        ]
        assert post(client, records)["created"] == 6
        speaker_of = {
            c["external_id"]: c["speaker_id"]
            for c in client.get(f"{API}/claims", params={"limit": 200}).json()["items"]
        }
        assert speaker_of["s:1"] == speaker_of["s:2"] == speaker_of["s:3"]
        assert speaker_of["s:4"] == speaker_of["s:5"]
        assert len(set(speaker_of.values())) == 3
        assert len(client.get(f"{API}/speakers").json()["items"]) == 3

    def test_a_stored_speaker_is_matched_by_an_alias(self, client: TestClient) -> None:
        stored = client.post(
            f"{API}/speakers", json={"name": "Mark Rutte", "aliases": ["Rutte"]}
        ).json()
        post(client, [{"external_id": "r:1", "statement": "x", "speaker": "rutte"}])
        assert claim_by_external_id(client, "r:1")["speaker_id"] == stored["id"]

    def test_a_deleted_speaker_found_by_external_id_fails_the_record(
        self, client: TestClient
    ) -> None:
        gone = client.post(f"{API}/speakers", json={"name": "Old", "external_id": "p:9"}).json()
        deleted = client.delete(
            f"{API}/speakers/{gone['id']}",
            params={"reason": "merged"},
            headers={"If-Match": '"v1"'},
        )
        assert deleted.status_code in (200, 204), deleted.text
        summary = post(
            client,
            [
                {"external_id": "d:1", "statement": "x", "speaker": {"external_id": "p:9"}},
                {"external_id": "d:2", "statement": "y"},
            ],
            on_error="skip",
        )
        assert (summary["created"], summary["failed"]) == (1, 1)
        error = summary["errors"][0]
        assert (error["index"], error["field"], error["type"]) == (
            0,
            "speaker_id",
            "reference_missing",
        )

    def test_a_failed_record_leaves_no_speaker_behind(self, client: TestClient) -> None:
        bad_outlet = {"name": "Broken", "domain": "not a domain"}
        records = [
            {"external_id": "f:1", "statement": "x", "speaker": "Nobody", "outlet": bad_outlet},
            {"external_id": "f:2", "statement": "y", "speaker": "Somebody"},
        ]
        summary = post(client, records, on_error="skip")
        assert (summary["created"], summary["failed"]) == (1, 1)
        assert summary["errors"][0]["index"] == 0
        names = [s["name"] for s in client.get(f"{API}/speakers").json()["items"]]
        assert names == ["Somebody"]
        assert client.get(f"{API}/outlets").json()["items"] == []


@pytest.fixture
def own_database(backend: str, tmp_path: Path) -> Iterator[Database]:
    """A database of its own, with no test transaction around it: real commits, real locks."""
    url = fresh_database_url(backend, tmp_path)
    upgrade(url)
    engine = make_engine(url)
    yield Database(engine)
    engine.dispose()
    if backend == "postgresql":
        drop_pg_database(url)


def test_a_claim_stored_meanwhile_sends_the_batch_down_the_record_path(
    backend: str, own_database: Database
) -> None:
    """PostgreSQL: another writer stores the same external_id after the batch looked; the
    batch INSERT hits the unique index, is undone, and the record path updates that claim."""
    if backend != "postgresql":
        pytest.skip("SQLite lets one writer in at a time; the race cannot happen there")
    engine = own_database.engine
    with engine.connect() as other:
        writer = other.begin()
        with Session(bind=other, join_transaction_mode="create_savepoint") as session:
            claims_service.create_claim(
                session,
                ClaimCreate(statement="Stored first.", external_id="race:1"),
                actor=CLI_ACTOR,
            )
        answer: dict[str, Any] = {}

        def run_batch() -> None:
            result = imports_service.run_import(
                own_database,
                [{"external_id": "race:1", "statement": "Imported."}],
                actor=CLI_ACTOR,
                dry_run=False,
                on_error=OnError.stop,
            )
            answer.update(orjson.loads(result.body))

        batch = threading.Thread(target=run_batch)
        batch.start()
        with engine.connect() as watcher:
            deadline = time.monotonic() + 30
            while not watcher.execute(
                text("SELECT count(*) FROM pg_locks WHERE NOT granted")
            ).scalar():
                assert time.monotonic() < deadline, "the batch never waited for the writer"
                time.sleep(0.02)
        writer.commit()
        batch.join(timeout=60)
    assert (answer["created"], answer["updated"], answer["failed"]) == (0, 1, 0)
    with own_database.session() as session:
        claims = session.exec(select(Claim)).all()
        assert [(c.statement, c.version) for c in claims] == [("Imported.", 2)]
        assert len(session.exec(select(Revision)).all()) == 2
    with engine.connect() as conn:
        assert verify_history(conn, TRACKED_TABLES).ok


def test_a_retry_reaching_another_worker_mid_request_gets_409(
    backend: str, own_database: Database
) -> None:
    """PostgreSQL: the Idempotency-Key lock is in the database, so it holds across workers."""
    if backend != "postgresql":
        pytest.skip("SQLite has no lock to share; the in-process guard is tested below")
    records = [{"external_id": "k:1", "statement": "Once."}]

    def run() -> idempotency.ImportAnswer:
        return imports_service.run_import(
            own_database,
            records,
            actor=CLI_ACTOR,
            dry_run=False,
            on_error=OnError.stop,
            idempotency_key="retry-1",
            body_fingerprint="f",
        )

    with own_database.engine.connect() as first_worker:
        first_worker.begin()
        first_worker.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"),
            {
                "space": idempotency.IDEMPOTENCY_LOCK_SPACE,
                "key": idempotency.idempotency_lock(0, "retry-1"),
            },
        )
        with pytest.raises(errors.Conflict, match="still running"):
            run()
        first_worker.rollback()
    assert orjson.loads(run().body)["created"] == 1
    assert run().replayed


def test_a_retry_reaching_the_same_process_mid_request_gets_409(
    backend: str, own_database: Database
) -> None:
    """The first request is held up (another writer holds the write lock); its retry, sent
    meanwhile with the same Idempotency-Key, is refused at once, and the first one lands."""
    answers: list[idempotency.ImportAnswer] = []

    def run() -> idempotency.ImportAnswer:
        return imports_service.run_import(
            own_database,
            [{"external_id": "k:2", "statement": "Once."}],
            actor=CLI_ACTOR,
            dry_run=False,
            on_error=OnError.stop,
            idempotency_key="retry-2",
            body_fingerprint="f",
        )

    engine = own_database.engine.execution_options(**{BEGIN_IMMEDIATE: True})
    with engine.connect() as other_writer:
        held = other_writer.begin()  # SQLite: BEGIN IMMEDIATE takes the write lock
        if backend == "postgresql":
            other_writer.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": idempotency.IMPORT_LOCK_KEY}
            )
        first = threading.Thread(target=lambda: answers.append(run()))
        first.start()
        deadline = time.monotonic() + 10
        while not idempotency._running:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(errors.Conflict, match="still running"):
            run()
        held.rollback()
        first.join(timeout=30)
    assert orjson.loads(answers[0].body)["created"] == 1
