"""Tampering behind the app's back, caught against a checkpoint saved earlier, on both backends.

Each case writes history through the services, lets the log catch up, saves the signed
checkpoint (as a witness would), and then plays an attacker who can write to the database: the
append-only triggers are turned off as the table owner would, rows are changed with raw SQL and,
where it helps the attacker, the hash chains are recomputed with the app's own hash function
and the log's tables rebuilt with the app's own appender, so that everything inside the database
agrees again. The plain chain verifier is then fooled (asserted, to show the attack is a real
one); ``claimtracker verify-history --checkpoint`` is not.
"""

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.claims import service as claims_service
from app.claims.models import ClaimUpdate
from app.core.db import Database, make_engine
from app.core.settings import Settings, get_settings
from app.history import service as history_service
from app.history.hashing import revision_hash
from app.history.service import revision_table
from app.history.verify import verify_history
from app.tables import TRACKED_TABLES
from app.tlog import merkle, service
from app.tlog.signing import current_checkpoint
from app.tlog.verify import verify_log
from app.tracked.versions import NO_PRECONDITION
from app.vocabulary.tlog import leaf_hash
from tests import factories
from tests.helpers import invoke


@dataclass
class Desk:
    backend: str
    url: str
    checkpoint: Path
    claims: list[int]

    def database(self) -> Database:
        return Database(make_engine(self.url))


def write_claims(database: Database, count: int, start: int = 0) -> list[int]:
    ids = []
    with database.session(write=True) as session:
        for number in range(start, start + count):
            claim = factories.claim(session, statement=f"Claim {number} said on the front.")
            claims_service.update_claim(
                session,
                claim.id,
                ClaimUpdate(place=f"Place {number}"),
                expect=NO_PRECONDITION,
                actor=factories.ACTOR,
            )
            ids.append(claim.id)
    return ids


def catch_up(database: Database) -> None:
    """Append every revision. On PostgreSQL the feed's watermark is the whole server's, so
    while another database's transaction is open (other tests) the newest revisions wait."""
    deadline = time.monotonic() + 120
    while True:
        with database.session(write=True) as session:
            service.catch_up(session)
        with database.read_connection() as conn:
            stored = conn.execute(select(func.count()).select_from(revision_table)).scalar_one()
            if service.tree_size(conn) >= stored:
                return
        assert time.monotonic() < deadline, "the feed held revisions back for two minutes"
        time.sleep(0.1)


@pytest.fixture
def desk(
    backend: str,
    migrated_database_url: str,
    checkpoint_key_file: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Desk]:
    monkeypatch.setenv("CLAIMS_DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("CLAIMS_CHECKPOINT_KEY_FILE", checkpoint_key_file)
    get_settings.cache_clear()
    database = Database(make_engine(migrated_database_url))
    try:
        claims = write_claims(database, 4)
        catch_up(database)
        settings = Settings(
            database_url=migrated_database_url, checkpoint_key_file=checkpoint_key_file
        )
        with database.read_connection(snapshot=True) as conn:
            note = current_checkpoint(conn, settings).signed_note
    finally:
        database.engine.dispose()
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(note)
    yield Desk(backend, migrated_database_url, saved, claims)
    get_settings.cache_clear()


# --- the attacker's tools -------------------------------------------------------------------

SQLITE_GUARDS = [
    f"{table}_no_{event}"
    for table in ("revision", "tlog_leaf", "tlog_node")
    for event in ("update", "delete")
]


def attack(desk: Desk, *statements: str) -> None:
    """Run ``statements`` with the guards off, as the database's owner could."""
    if desk.backend == "sqlite":
        path = make_url(desk.url).database
        assert path is not None
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys = OFF")
            for trigger in SQLITE_GUARDS:
                conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            for statement in filter(None, statements):
                conn.execute(statement)
        finally:
            conn.close()
        return
    plain = make_url(desk.url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as pg:
        pg.execute("SET session_replication_role = replica")  # no foreign-key checks
        for table in ("revision", "tlog_leaf", "tlog_node"):
            pg.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")  # ENABLE ALWAYS ones too
        for statement in filter(None, statements):
            pg.execute(statement)


WIPE_LOG = ("DELETE FROM tlog_node", "DELETE FROM tlog_leaf")


def rebuild_log(desk: Desk) -> None:
    """Rebuild the log's tables from the revisions as they are now, with the app's appender."""
    attack(desk, *WIPE_LOG)
    database = desk.database()
    try:
        catch_up(database)
    finally:
        database.engine.dispose()


def revisions_in_id_order(conn: Any) -> list[Any]:
    return list(conn.execute(select(revision_table).order_by(revision_table.c.id)))


def chains_intact(desk: Desk) -> bool:
    database = desk.database()
    try:
        with database.read_connection(snapshot=True) as conn:
            return verify_history(conn, TRACKED_TABLES).ok
    finally:
        database.engine.dispose()


def verify_against(desk: Desk) -> tuple[int, str]:
    return invoke("verify-history", "--checkpoint", str(desk.checkpoint))


def revisions_of(desk: Desk, claim_id: int) -> list[Any]:
    database = desk.database()
    try:
        with database.read_connection() as conn:
            return list(
                history_service.list_revisions(conn, history_service.EntityType.claim, claim_id)
            )
    finally:
        database.engine.dispose()


# --- the cases ------------------------------------------------------------------------------


class TestUntouched:
    def test_the_saved_checkpoint_verifies_and_keeps_verifying_as_history_grows(
        self, desk: Desk
    ) -> None:
        code, output = verify_against(desk)
        assert code == 0, output
        assert "checkpoint claimtracker/history 8 verified" in output
        database = desk.database()
        try:
            write_claims(database, 2, start=10)
            catch_up(database)
        finally:
            database.engine.dispose()
        code, output = verify_against(desk)
        assert code == 0, output
        assert "log of 12 extends it" in output


class TestTampering:
    def test_deleting_a_claim_with_its_history_is_caught(self, desk: Desk) -> None:
        victim = desk.claims[1]
        attack(
            desk,
            f"DELETE FROM revision WHERE entity_type = 'claim' AND entity_id = {victim}",
            f"DELETE FROM claim_topic WHERE claim_id = {victim}",
            f"DELETE FROM evidence WHERE claim_id = {victim}",
            f"DELETE FROM appearance WHERE claim_id = {victim}",
            f"DELETE FROM claim WHERE id = {victim}",
        )
        rebuild_log(desk)
        database = desk.database()
        try:  # life goes on: the log grows past the checkpoint's size again
            write_claims(database, 2, start=20)
            catch_up(database)
        finally:
            database.engine.dispose()
        assert chains_intact(desk)  # the chains alone cannot tell
        assert invoke("verify-history")[0] == 0  # nor the log without a checkpoint
        code, output = verify_against(desk)
        assert code == 1
        assert "do not give the checkpoint's root" in output

    def test_rewriting_a_revision_with_recomputed_chain_hashes_is_caught(self, desk: Desk) -> None:
        victim = desk.claims[0]
        first, second = revisions_of(desk, victim)
        values = {
            column: getattr(first, column)
            for column in [
                "entity_type",
                "entity_id",
                "version",
                "action",
                "reverted_to",
                "recorded_at",
                "actor_key_id",
                "actor_name",
                "actor_role",
                "request_id",
                "schema_version",
                "prev_hash",
                "snapshot",
                "changes",
            ]
        }
        first_hash = revision_hash(**values, reason="forged: it was always so")
        second_values = {**values, **{c: getattr(second, c) for c in values if c != "prev_hash"}}
        second_hash = revision_hash(
            **(second_values | {"prev_hash": first_hash}), reason=second.reason
        )
        attack(
            desk,
            f"UPDATE revision SET reason = 'forged: it was always so', hash = '{first_hash}' "
            f"WHERE id = {first.id}",
            f"UPDATE revision SET prev_hash = '{first_hash}', hash = '{second_hash}' "
            f"WHERE id = {second.id}",
            f"UPDATE claim SET head_hash = '{second_hash}' WHERE id = {victim}",
        )
        assert chains_intact(desk)  # recomputed: the chain verifier is fooled
        code, output = invoke("verify-history")  # the log's stored leaves are not
        assert code == 1
        assert "rewritten after it was logged" in output
        rebuild_log(desk)  # nor is a rebuilt log, against the checkpoint
        assert invoke("verify-history")[0] == 0
        code, output = verify_against(desk)
        assert code == 1
        assert "do not give the checkpoint's root" in output

    def test_reordering_the_log_is_caught(self, desk: Desk) -> None:
        attack(desk, *WIPE_LOG)
        database = desk.database()
        try:
            with database.session(write=True) as session:
                conn = session.connection()
                feed = [(r.id, r.hash) for r in revisions_in_id_order(conn)]
                feed[1], feed[2] = feed[2], feed[1]
                leaves = [leaf_hash(bytes.fromhex(h)) for _, h in feed]
                nodes = merkle.append_leaves([], 0, leaves)
                conn.execute(
                    service.leaf_table.insert(),
                    [{"leaf_index": i, "revision_id": r} for i, (r, _) in enumerate(feed)],
                )
                conn.execute(
                    service.node_table.insert(),
                    [{"level": lv, "node_index": ix, "hash": h} for (lv, ix), h in nodes],
                )
                session.commit()
        finally:
            database.engine.dispose()
        assert chains_intact(desk)
        code, output = verify_against(desk)
        assert code == 1
        assert "do not give the checkpoint's root" in output

    def test_truncating_the_history_is_caught(self, desk: Desk) -> None:
        newest = desk.claims[-1]
        attack(
            desk,
            f"DELETE FROM revision WHERE entity_type = 'claim' AND entity_id = {newest}",
            f"DELETE FROM claim_topic WHERE claim_id = {newest}",
            f"DELETE FROM claim WHERE id = {newest}",
        )
        rebuild_log(desk)
        assert chains_intact(desk)
        code, output = verify_against(desk)
        assert code == 1
        assert "truncated" in output

    def test_a_revision_slipped_in_behind_the_log_is_caught(self, desk: Desk) -> None:
        """A revision inserted at a place in the feed the appender has passed (a free id
        below the log's last one) is never appended: the log check names it."""
        first = revisions_of(desk, desk.claims[0])[0]
        attack(
            desk,
            "DROP TRIGGER IF EXISTS revision_positive_id" if desk.backend == "sqlite" else "",
            "INSERT INTO revision (id, entity_type, entity_id, version, action, recorded_at, "
            "actor_name, actor_role, changes, snapshot, schema_version, hash, feed_xid) "
            "SELECT -5, entity_type, entity_id, 99, action, recorded_at, actor_name, "
            f"actor_role, changes, snapshot, schema_version, hash, 0 FROM revision "
            f"WHERE id = {first.id}",
        )
        database = desk.database()
        try:
            with database.read_connection(snapshot=True) as conn:
                report = verify_log(conn)
        finally:
            database.engine.dispose()
        assert not report.ok
        assert report.problem is not None
        assert "revision -5 is in no leaf" in report.problem
        assert "behind the log's back" in report.problem
