"""The transparency log's commands against a real SQLite file."""

import os
import stat
from pathlib import Path

import pytest

from app.core.settings import get_settings
from tests.helpers import invoke
from tests.tlog import rfc9162


@pytest.fixture
def key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keys" / "checkpoint.key"
    path.parent.mkdir()
    monkeypatch.setenv("CLAIMS_CHECKPOINT_KEY_FILE", str(path))
    monkeypatch.setenv("CLAIMS_CHECKPOINT_ORIGIN", "claims.example.org/history")
    get_settings.cache_clear()
    return path


class TestCheckpointKey:
    def test_create_writes_an_owner_only_key_once_and_prints_the_verifier_key(
        self, cli_database: str, key_path: Path
    ) -> None:
        code, output = invoke("checkpoint-key", "create")
        assert code == 0, output
        assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
        verifier = output.split("verifier key: ")[1].strip()
        assert rfc9162.parse_verifier_key(verifier)[0] == "claims.example.org/history"
        secret = key_path.read_text().strip().split("+", 4)[4]
        assert secret not in output
        before = key_path.read_text()
        code, output = invoke("checkpoint-key", "create")
        assert code == 2
        assert "exists" in output
        assert key_path.read_text() == before
        code, output = invoke("checkpoint-key", "create", "--if-missing")
        assert code == 0
        assert verifier in output


class TestShowAndVerify:
    def test_show_prints_a_checkpoint_verify_history_accepts(
        self, cli_database: str, key_path: Path, tmp_path: Path
    ) -> None:
        invoke("migrate")
        invoke("seed")
        invoke("checkpoint-key", "create")
        code, note = invoke("checkpoint", "show")
        assert code == 0, note
        saved = tmp_path / "saved.txt"
        saved.write_text(note)
        code, output = invoke("verify-history", "--checkpoint", str(saved))
        assert code == 0, output
        assert "transparency log intact" in output
        assert "verified" in output

    def test_a_checkpoint_signed_by_another_key_is_refused(
        self, cli_database: str, key_path: Path, tmp_path: Path
    ) -> None:
        invoke("migrate")
        invoke("seed")
        invoke("checkpoint-key", "create")
        code, note = invoke("checkpoint", "show")
        saved = tmp_path / "saved.txt"
        saved.write_text(note.replace("history\n", "history\n", 1)[:-10] + "AAAAAAAAA=\n")
        code, output = invoke("verify-history", "--checkpoint", str(saved))
        assert code == 1
        assert "REFUSED" in output

    def test_append_fills_the_log(self, cli_database: str, key_path: Path) -> None:
        invoke("migrate")
        invoke("seed")
        code, output = invoke("checkpoint", "append")
        assert code == 0
        appended = int(output.split()[1])
        assert appended > 0
        assert invoke("checkpoint", "append")[1].startswith("appended 0 revisions")
