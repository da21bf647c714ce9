"""``claimtracker backup`` and ``restore`` on real SQLite files; the backup while a real server
takes writes."""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from app.schema import backup as backup_module
from app.schema.migrate import alembic_config, upgrade
from tests.conftest import new_key_in
from tests.helpers import invoke
from tests.servers import running_server

CLAIMS = "/api/v1/claims"


def path_of(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return conn.execute(sql).fetchall()


def claim_count(path: Path) -> int:
    return int(query(path, "SELECT count(*) FROM claim")[0][0])


def tamper(path: Path) -> None:
    """Change a recorded revision behind the history's back (its trigger dropped first)."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DROP TRIGGER revision_no_update")
        conn.execute("UPDATE revision SET reason = 'forged' WHERE id = 1")


@pytest.fixture
def seeded(cli_database: str) -> Path:
    """The commands' SQLite database, migrated and seeded."""
    assert invoke("migrate")[0] == 0
    assert invoke("seed")[0] == 0
    return path_of(cli_database)


def assert_one_line_refusal(code: int, output: str, *words: str) -> None:
    assert code == 1, output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1, output
    for word in words:
        assert word in output


class TestBackupUnderWrites:
    @pytest.mark.slow
    def test_each_copy_is_one_consistent_moment_and_verifies(
        self, seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Small steps: writes land between the steps of a copy, which must still be one moment.
        monkeypatch.setattr(backup_module, "PAGES_PER_STEP", 4)
        key = new_key_in(f"sqlite:///{seeded}")
        stop = threading.Event()
        failures: list[str] = []

        def write(server_url: str, n: int) -> None:
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=server_url, headers=headers, timeout=30) as client:
                k = 0
                while not stop.is_set():
                    body = {"statement": f"Writer {n} says claim {k} happened.", "language": "en"}
                    response = client.post(CLAIMS, json=body)
                    if response.status_code != 201:
                        failures.append(response.text)
                    k += 1

        copies: list[tuple[int, int, int]] = []  # claims before, in the copy, after
        with running_server(f"sqlite:///{seeded}", api_key=key) as server:
            writers = [threading.Thread(target=write, args=(server.base_url, n)) for n in range(4)]
            for thread in writers:
                thread.start()
            try:
                for attempt in range(10):
                    copy = tmp_path / f"copy-{attempt}.db"
                    before = claim_count(seeded)
                    code, output = invoke("backup", str(copy))
                    after = claim_count(seeded)
                    assert code == 0, output
                    assert "integrity_check ok" in output
                    assert "history intact" in output
                    copies.append((before, claim_count(copy), after))
                    self.assert_consistent(copy)
            finally:
                stop.set()
                for thread in writers:
                    thread.join()
        assert not failures, failures[:3]
        for before, copied, after in copies:
            assert before <= copied <= after
        # Proof the copies were taken under writes: one holds some, not all, of a run's writes.
        assert any(before < copied < after for before, copied, after in copies), copies

    @staticmethod
    def assert_consistent(copy: Path) -> None:
        assert query(copy, "PRAGMA integrity_check") == [("ok",)]
        orphans = query(
            copy,
            "SELECT count(*) FROM claim WHERE NOT EXISTS (SELECT 1 FROM revision r "
            "WHERE r.entity_type = 'claim' AND r.entity_id = claim.id "
            "AND r.version = claim.version AND r.hash = claim.head_hash)",
        )
        assert orphans == [(0,)], "a claim in the copy lacks its last revision"
        assert query(copy, "PRAGMA journal_mode") == [("delete",)]  # one file, no -wal
        assert not Path(f"{copy}-wal").exists()


class TestBackup:
    def test_an_existing_file_is_kept_unless_forced(self, seeded: Path, tmp_path: Path) -> None:
        target = tmp_path / "copy.db"
        target.write_bytes(b"precious")
        code, output = invoke("backup", str(target))
        assert_one_line_refusal(code, output, "exists", "--force")
        assert target.read_bytes() == b"precious"
        code, output = invoke("backup", str(target), "--force")
        assert code == 0, output
        assert claim_count(target) == claim_count(seeded)
        assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []

    def test_a_missing_database_is_refused_and_not_created(
        self, cli_database: str, tmp_path: Path
    ) -> None:
        code, output = invoke("backup", str(tmp_path / "copy.db"))
        assert_one_line_refusal(code, output, "does not exist")
        assert not path_of(cli_database).exists()
        assert not (tmp_path / "copy.db").exists()

    def test_a_copy_whose_history_is_broken_exits_1(self, seeded: Path, tmp_path: Path) -> None:
        tamper(seeded)
        code, output = invoke("backup", str(tmp_path / "copy.db"))
        assert code == 1
        assert "history BROKEN" in output
        assert (tmp_path / "copy.db").exists()  # the copy is kept: it is what the database holds

    def test_postgresql_is_pointed_at_pg_dump(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CLAIMS_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:1/claims")
        from app.core.settings import get_settings

        get_settings.cache_clear()
        try:
            for command in ("backup", "restore"):
                code, output = invoke(command, str(tmp_path / "x.db"))
                assert code == 2, output
                assert "pg_dump" in output
                assert "docs/operations.md" in output
                assert "Traceback" not in output
        finally:
            get_settings.cache_clear()


class TestRestore:
    @pytest.fixture
    def backup(self, seeded: Path, tmp_path: Path) -> Path:
        target = tmp_path / "backup.db"
        assert invoke("backup", str(target))[0] == 0
        return target

    def test_round_trip_puts_the_backup_back_and_keeps_the_replaced_file(
        self, seeded: Path, backup: Path
    ) -> None:
        keys_in_backup = query(backup, "SELECT count(*) FROM api_key")
        assert invoke("keys", "create", "--name", "after", "--role", "reader")[0] == 0
        code, output = invoke("restore", str(backup))
        assert code == 0, output
        assert "restored database: history intact" in output
        assert query(seeded, "SELECT count(*) FROM api_key") == keys_in_backup
        (replaced,) = seeded.parent.glob(f"{seeded.name}.before-restore-*")
        assert str(replaced) in output
        assert query(replaced, "SELECT name FROM api_key WHERE name = 'after'") == [("after",)]
        for suffix in ("-wal", "-shm", "-journal"):  # no log of the old file beside the new
            assert not Path(f"{seeded}{suffix}").exists()
        assert [p.name for p in seeded.parent.iterdir() if "partial" in p.name] == []
        assert invoke("verify-history")[0] == 0

    def test_a_database_in_use_is_not_replaced(self, seeded: Path, backup: Path) -> None:
        holder = sqlite3.connect(seeded)  # like an idle server connection
        try:
            holder.execute("PRAGMA journal_mode=WAL")
            holder.execute("SELECT count(*) FROM claim").fetchone()
            code, output = invoke("restore", str(backup))
        finally:
            holder.close()
        assert_one_line_refusal(code, output, "in use", "stop the server")
        assert list(seeded.parent.glob("*.before-restore-*")) == []

    def test_an_older_backup_is_migrated_on_the_way_in(
        self, cli_database: str, tmp_path: Path
    ) -> None:
        scripts = ScriptDirectory.from_config(alembic_config())
        head = scripts.get_current_head()
        assert head is not None
        previous = scripts.get_revision(head).down_revision
        assert isinstance(previous, str)
        old = tmp_path / "old.db"
        upgrade(f"sqlite:///{old}", revision=previous)
        code, output = invoke("restore", str(old))
        assert code == 0, output
        assert f"the backup was at migration {previous}; migrated to head" in output
        version = "SELECT version_num FROM alembic_version"
        assert query(old, version) == [(previous,)]  # the backup itself is left as it was
        assert query(path_of(cli_database), version) == [(head,)]


class TestRestoreRefuses:
    """Each bad backup: exit 1, one line, the configured database untouched."""

    @pytest.fixture
    def database(self, seeded: Path) -> Iterator[Path]:
        content = seeded.read_bytes()
        yield seeded
        assert seeded.read_bytes() == content, "a refused restore changed the database"
        assert list(seeded.parent.glob("*.before-restore-*")) == []
        assert [p.name for p in seeded.parent.iterdir() if "partial" in p.name] == []

    @pytest.fixture
    def copy(self, database: Path, tmp_path: Path) -> Path:
        target = tmp_path / "copy.db"
        assert invoke("backup", str(target))[0] == 0
        return target

    def test_a_missing_file(self, database: Path, tmp_path: Path) -> None:
        code, output = invoke("restore", str(tmp_path / "nope.db"))
        assert_one_line_refusal(code, output, "no such file")

    def test_a_file_that_is_not_a_database(self, database: Path, tmp_path: Path) -> None:
        text = tmp_path / "notes.txt"
        text.write_text("claims, but not a database\n")
        code, output = invoke("restore", str(text))
        assert_one_line_refusal(code, output, "not a SQLite database")

    def test_a_corrupt_database(self, database: Path, copy: Path) -> None:
        data = bytearray(copy.read_bytes())
        page = 4096
        data[page * 2 : page * 6] = b"\xa5" * (page * 4)  # pages 3-6: B-tree pages gone bad
        copy.write_bytes(bytes(data))
        code, output = invoke("restore", str(copy))
        assert_one_line_refusal(code, output, "corrupt")

    def test_a_database_ahead_of_the_code(self, database: Path, copy: Path) -> None:
        with closing(sqlite3.connect(copy)) as conn, conn:
            conn.execute("UPDATE alembic_version SET version_num = 'f00dfeedcafe'")
        code, output = invoke("restore", str(copy))
        assert_one_line_refusal(code, output, "ahead of this code", "f00dfeedcafe")

    def test_a_database_whose_history_is_broken(self, database: Path, copy: Path) -> None:
        tamper(copy)
        code, output = invoke("restore", str(copy))
        assert_one_line_refusal(code, output, "failed verification", "BROKEN")
