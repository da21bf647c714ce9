"""The revision table refuses every write form but a new row, at the database level.

Each attack runs on a raw driver connection (sqlite3 / psycopg, not the app's engine, so none
of its pragmas or checks help), against a fresh migrated database holding history written
through the services. After each attempt the revision rows are exactly what they were.
"""

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from app.claims import service as claims_service
from app.claims.models import ClaimUpdate
from app.core.db import Database, make_engine
from app.history.verify import verify_history
from app.schema.migrate import upgrade
from app.tables import TRACKED_TABLES
from app.tracked.versions import NO_PRECONDITION
from tests import factories
from tests.conftest import BACKENDS, PG_URL, drop_pg_database, fresh_database_url

COLUMNS = (
    "id, entity_type, entity_id, version, action, recorded_at, actor_name, actor_role, "
    "changes, snapshot, schema_version, hash"
)
COLUMNS_WITHOUT_ID = COLUMNS.removeprefix("id, ")


class Stored:
    """The fresh database: its URL, and the claim whose history the attacks aim at."""

    def __init__(self, backend: str, url: str, claim_id: int, first_id: int, second_id: int):
        self.backend = backend
        self.url = url
        self.claim_id = claim_id
        self.first_id = first_id  # the claim's revision 1
        self.second_id = second_id  # its revision 2

    def forged(self, *, same_id: bool) -> str:
        """VALUES of a forged revision clashing with revision 1 on its id, or (without an id)
        on its (entity_type, entity_id, version)."""
        if same_id:
            return (
                f"({COLUMNS}) VALUES ({self.first_id}, 'claim', {self.claim_id}, 99, 'created', "
                "'2026-01-01 00:00:00', 'forger', 'admin', '{}', '{}', 1, 'forged')"
            )
        return (
            f"({COLUMNS_WITHOUT_ID}) VALUES ('claim', {self.claim_id}, 1, 'created', "
            "'2026-01-01 00:00:00', 'forger', 'admin', '{}', '{}', 1, 'forged')"
        )


def build_stored(backend: str, tmp_dir: Path) -> Iterator[Stored]:
    url = fresh_database_url(backend, tmp_dir)
    try:
        upgrade(url)
        database = Database(make_engine(url))
        try:
            with database.session(write=True) as session:
                claim = factories.claim(session)
                factories.speaker(session)
                claims_service.update_claim(
                    session,
                    claim.id,
                    ClaimUpdate(place="Soledar"),
                    expect=NO_PRECONDITION,
                    actor=factories.ACTOR,
                )
        finally:
            database.engine.dispose()
        yield Stored(backend, url, claim.id, *revision_ids(backend, url, claim.id))
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


@pytest.fixture(scope="module")
def sqlite_stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    yield from build_stored("sqlite", tmp_path_factory.mktemp("append-only"))


@pytest.fixture(scope="module")
def postgres_stored() -> Iterator[Stored]:
    if not PG_URL:
        pytest.skip("needs PostgreSQL: set CLAIMS_TEST_PG_URL")
    yield from build_stored("postgresql", Path())


@pytest.fixture(params=BACKENDS)
def stored(request: pytest.FixtureRequest) -> Stored:
    """The database of each backend, after the attacks on it have run."""
    found: Stored = request.getfixturevalue(
        f"{'sqlite' if request.param == 'sqlite' else 'postgres'}_stored"
    )
    return found


# --- raw connections --------------------------------------------------------------------------


def sqlite_connection(url: str, *, recursive_triggers: bool) -> sqlite3.Connection:
    path = make_url(url).database
    assert path is not None
    conn = sqlite3.connect(path, isolation_level=None)  # autocommit: each statement stands
    conn.execute(f"PRAGMA recursive_triggers = {'ON' if recursive_triggers else 'OFF'}")
    return conn


def postgres_connection(url: str) -> psycopg.Connection[Any]:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(plain, autocommit=True)


def raw_rows(backend: str, url: str) -> list[tuple[Any, ...]]:
    if backend == "sqlite":
        conn = sqlite_connection(url, recursive_triggers=False)
        try:
            return conn.execute("SELECT * FROM revision ORDER BY id").fetchall()
        finally:
            conn.close()
    with postgres_connection(url) as pg:
        return pg.execute("SELECT * FROM revision ORDER BY id").fetchall()


def revision_ids(backend: str, url: str, claim_id: int) -> tuple[int, int]:
    sql = (
        "SELECT id FROM revision WHERE entity_type = 'claim' AND entity_id = "
        f"{int(claim_id)} ORDER BY version"
    )
    if backend == "sqlite":
        conn = sqlite_connection(url, recursive_triggers=False)
        try:
            ids = [row[0] for row in conn.execute(sql)]
        finally:
            conn.close()
    else:
        with postgres_connection(url) as pg:
            ids = [row[0] for row in pg.execute(sql)]
    assert len(ids) == 2
    return ids[0], ids[1]


def history_is_intact(url: str) -> bool:
    database = Database(make_engine(url))
    try:
        with database.read_connection(snapshot=True) as conn:
            return verify_history(conn, TRACKED_TABLES).ok
    finally:
        database.engine.dispose()


# --- SQLite ---------------------------------------------------------------------------------

SqlFor = Callable[[Stored], str]

SQLITE_ATTACKS: dict[str, SqlFor] = {
    "update": lambda s: "UPDATE revision SET reason = 'forged'",
    "delete": lambda s: "DELETE FROM revision",
    "replace into, same id": lambda s: f"REPLACE INTO revision {s.forged(same_id=True)}",
    "replace into, same entity version": lambda s: (
        f"REPLACE INTO revision {s.forged(same_id=False)}"
    ),
    "insert or replace, same id": lambda s: (
        f"INSERT OR REPLACE INTO revision {s.forged(same_id=True)}"
    ),
    "insert or replace, same entity version": lambda s: (
        f"INSERT OR REPLACE INTO revision {s.forged(same_id=False)}"
    ),
    "insert or replace of every stored row": lambda s: (
        "INSERT OR REPLACE INTO revision SELECT * FROM revision"
    ),
    "upsert on the id": lambda s: (
        f"INSERT INTO revision {s.forged(same_id=True)} "
        "ON CONFLICT (id) DO UPDATE SET reason = 'forged'"
    ),
    "upsert on the entity version": lambda s: (
        f"INSERT INTO revision {s.forged(same_id=False)} "
        "ON CONFLICT (entity_type, entity_id, version) DO UPDATE SET hash = excluded.hash"
    ),
    "upsert without a target": lambda s: (
        f"INSERT INTO revision {s.forged(same_id=True)} ON CONFLICT DO UPDATE SET reason = 'x'"
    ),
    "update or replace onto another row's id": lambda s: (
        f"UPDATE OR REPLACE revision SET id = {s.first_id} WHERE id = {s.second_id}"
    ),
    "insert of a non-positive id": lambda s: (
        f"INSERT INTO revision ({COLUMNS}) VALUES (-1, 'claim', {s.claim_id}, 99, 'created', "
        "'2026-01-01 00:00:00', 'forger', 'admin', '{}', '{}', 1, 'forged')"
    ),
}


class TestSQLiteRefusesEveryOverwrite:
    @pytest.mark.parametrize("recursive_triggers", [False, True], ids=["recursive off", "on"])
    @pytest.mark.parametrize("attack", list(SQLITE_ATTACKS))
    def test_the_write_is_refused_and_the_rows_stay_as_they_were(
        self, sqlite_stored: Stored, attack: str, recursive_triggers: bool
    ) -> None:
        before = raw_rows("sqlite", sqlite_stored.url)
        conn = sqlite_connection(sqlite_stored.url, recursive_triggers=recursive_triggers)
        try:
            with pytest.raises(sqlite3.IntegrityError, match=r"append-only|ids are positive"):
                conn.execute(SQLITE_ATTACKS[attack](sqlite_stored))
        finally:
            conn.close()
        assert raw_rows("sqlite", sqlite_stored.url) == before

    def test_on_conflict_do_nothing_changes_nothing(self, sqlite_stored: Stored) -> None:
        before = raw_rows("sqlite", sqlite_stored.url)
        conn = sqlite_connection(sqlite_stored.url, recursive_triggers=False)
        try:
            # Refused by the same trigger; either way nothing may change.
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(
                    f"INSERT INTO revision {sqlite_stored.forged(same_id=True)} "
                    "ON CONFLICT DO NOTHING"
                )
        finally:
            conn.close()
        assert raw_rows("sqlite", sqlite_stored.url) == before


# --- PostgreSQL -----------------------------------------------------------------------------

POSTGRES_ATTACKS: dict[str, SqlFor] = {
    "update": lambda s: "UPDATE revision SET reason = 'forged'",
    "delete": lambda s: "DELETE FROM revision",
    "truncate": lambda s: "TRUNCATE revision",
    "truncate restart identity cascade": lambda s: "TRUNCATE revision RESTART IDENTITY CASCADE",
    "upsert on the id": lambda s: (
        f"INSERT INTO revision {s.forged(same_id=True)} "
        "ON CONFLICT (id) DO UPDATE SET reason = 'forged'"
    ),
    "upsert on the entity version": lambda s: (
        f"INSERT INTO revision {s.forged(same_id=False)} "
        "ON CONFLICT ON CONSTRAINT uq_revision_entity_version DO UPDATE SET hash = excluded.hash"
    ),
    "merge that updates": lambda s: (
        "MERGE INTO revision r USING (SELECT 1 AS one) s ON r.id = "
        f"{s.first_id} WHEN MATCHED THEN UPDATE SET reason = 'forged'"
    ),
    "merge that deletes": lambda s: (
        "MERGE INTO revision r USING (SELECT 1 AS one) s ON r.id = "
        f"{s.first_id} WHEN MATCHED THEN DELETE"
    ),
}
# A superuser's session can skip ordinary triggers; the guards are ENABLE ALWAYS.
REPLICA_ATTACKS = ("update", "delete", "truncate")


@pytest.mark.postgres_only
class TestPostgresRefusesEveryOverwrite:
    @pytest.mark.parametrize("attack", list(POSTGRES_ATTACKS))
    def test_the_write_is_refused_and_the_rows_stay_as_they_were(
        self, postgres_stored: Stored, attack: str
    ) -> None:
        before = raw_rows("postgresql", postgres_stored.url)
        with (
            postgres_connection(postgres_stored.url) as pg,
            pytest.raises(psycopg.errors.RaiseException, match="append-only"),
        ):
            pg.execute(POSTGRES_ATTACKS[attack](postgres_stored))
        assert raw_rows("postgresql", postgres_stored.url) == before

    @pytest.mark.parametrize("attack", REPLICA_ATTACKS)
    def test_a_replica_session_is_refused_too(self, postgres_stored: Stored, attack: str) -> None:
        before = raw_rows("postgresql", postgres_stored.url)
        with postgres_connection(postgres_stored.url) as pg:
            pg.execute("SET session_replication_role = replica")
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                pg.execute(POSTGRES_ATTACKS[attack](postgres_stored))
        assert raw_rows("postgresql", postgres_stored.url) == before

    def test_a_plain_duplicate_insert_is_a_unique_violation(self, postgres_stored: Stored) -> None:
        before = raw_rows("postgresql", postgres_stored.url)
        with (
            postgres_connection(postgres_stored.url) as pg,
            pytest.raises(psycopg.errors.UniqueViolation),
        ):
            pg.execute(f"INSERT INTO revision {postgres_stored.forged(same_id=False)}")
        assert raw_rows("postgresql", postgres_stored.url) == before

    def test_on_conflict_do_nothing_changes_nothing(self, postgres_stored: Stored) -> None:
        before = raw_rows("postgresql", postgres_stored.url)
        with postgres_connection(postgres_stored.url) as pg:
            pg.execute(
                f"INSERT INTO revision {postgres_stored.forged(same_id=True)} "
                "ON CONFLICT DO NOTHING"
            )
        assert raw_rows("postgresql", postgres_stored.url) == before


# --- after every attack -----------------------------------------------------------------------


class TestAfterTheAttacks:
    def test_the_history_still_verifies(self, stored: Stored) -> None:
        assert history_is_intact(stored.url)

    def test_a_new_revision_through_the_service_is_still_written(self, stored: Stored) -> None:
        before = raw_rows(stored.backend, stored.url)
        database = Database(make_engine(stored.url))
        try:
            with database.session(write=True) as session:
                claims_service.update_claim(
                    session,
                    stored.claim_id,
                    ClaimUpdate(place="Kramatorsk"),
                    expect=NO_PRECONDITION,
                    actor=factories.ACTOR,
                )
        finally:
            database.engine.dispose()
        after = raw_rows(stored.backend, stored.url)
        assert after[: len(before)] == before
        assert len(after) == len(before) + 1
        assert history_is_intact(stored.url)
