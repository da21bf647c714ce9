"""The claimtracker command against a real SQLite file: migrate, seed, verify-history; each
command opens the database once."""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from app.core import db as db_module
from tests.helpers import invoke


class TestCommands:
    def test_migrate_seed_twice_and_verify(self, cli_database: str) -> None:
        assert invoke("migrate") == (0, "database migrated to head\n")
        code, output = invoke("seed", "--if-empty")
        assert code == 0
        assert "created" in output
        assert invoke("seed", "--if-empty") == (
            0,
            "database already has claims; seeds not loaded\n",
        )
        assert invoke("seed") == (0, "seeds already loaded; nothing changed\n")
        code, output = invoke("verify-history")
        assert code == 0
        assert output.startswith("history intact:")

    def test_verify_history_exits_1_and_names_the_broken_link(self, cli_database: str) -> None:
        invoke("migrate")
        invoke("seed")
        engine = create_engine(cli_database)
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER revision_no_update"))
            conn.execute(
                text(
                    "UPDATE revision SET reason = 'forged' "
                    "WHERE entity_type = 'speaker' AND version = 1 AND entity_id = 2"
                )
            )
        engine.dispose()
        code, output = invoke("verify-history")
        assert code == 1
        assert "speaker 2 version 1" in output

    def test_invalid_seed_data_exits_2(self, cli_database: str, tmp_path: Path) -> None:
        invoke("migrate")
        folder = tmp_path / "seeds"
        folder.mkdir()
        (folder / "speakers.yaml").write_text("- name: ''\n  external_id: speaker:x\n")
        code, output = invoke("seed", "--directory", str(folder))
        assert code == 2
        assert "speakers.yaml record 0" in output

    def test_help_lists_the_commands(self) -> None:
        code, output = invoke("--help")
        assert code == 0
        for command in ("serve", "migrate", "seed", "verify-history"):
            assert command in output


class TestTheDatabase:
    @pytest.mark.parametrize(
        "command",
        [
            ("seed",),
            ("verify-history",),
            ("keys", "create", "--name", "desk", "--role", "editor"),
            ("keys", "list"),
            ("keys", "revoke", "1"),
            ("keys", "revoke", "4242"),
            ("keys", "ensure-admin"),
        ],
    )
    def test_each_command_opens_it_once_and_closes_it(
        self, cli_database: str, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
    ) -> None:
        invoke("migrate")
        invoke("keys", "create", "--name", "first", "--role", "reader")
        opened: list[Engine] = []
        disposed: list[Engine] = []
        make_engine = db_module.make_engine

        def counting_make_engine(*args: Any, **kwargs: Any) -> Engine:
            engine = make_engine(*args, **kwargs)
            dispose = engine.dispose

            def counting_dispose(close: bool = True) -> None:
                disposed.append(engine)
                dispose(close)

            monkeypatch.setattr(engine, "dispose", counting_dispose)
            opened.append(engine)
            return engine

        monkeypatch.setattr(db_module, "make_engine", counting_make_engine)
        code, output = invoke(*command)
        assert code in (0, 1), output  # revoking key 4242 exits 1: it closes all the same
        assert len(opened) == 1
        assert disposed == opened
