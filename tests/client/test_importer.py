"""`claimtracker import`'s checks before anything is sent: the file is read and every record
validated first, so these runs never reach a server (the URL is a closed port)."""

from functools import partial
from pathlib import Path

import orjson
import pytest

from app.client import ClaimTrackerClient, importer
from app.client.importer import run_import_command
from tests.servers import free_port


def run(path: Path, fmt: str = "ndjson", mapping: Path | None = None) -> int:
    return run_import_command(
        path,
        url=f"http://127.0.0.1:{free_port()}",
        token="ct_unused",
        fmt=fmt,
        mapping_path=mapping,
        batch_size=10,
        dry_run=False,
        on_error="stop",
    )


def ndjson(tmp_path: Path, *records: object) -> Path:
    path = tmp_path / "records.ndjson"
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return path


class TestBeforeSending:
    def test_invalid_records_are_named_by_row_and_field_and_nothing_is_sent(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = ndjson(
            tmp_path,
            {"external_id": "x:1", "statement": "Fine."},
            {"external_id": "x:2", "statement": ""},
            {"external_id": "x:3", "statement": "Rated.", "status": "false"},
        )
        assert run(path) == 2
        err = capsys.readouterr().err
        assert "2 bad row(s); nothing was imported." in err
        assert "row 2: statement: String should have at least 1 character" in err
        assert "row 3: record: Value error, status false needs a verdict" in err

    def test_an_unknown_format_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert run(ndjson(tmp_path), fmt="xml") == 2
        assert "unknown format 'xml'" in capsys.readouterr().err

    def test_a_bad_mapping_is_refused_before_the_file_is_read(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        mapping = tmp_path / "m.toml"
        mapping.write_text('[columns]\nexternal_id = "id"\n', encoding="utf-8")
        assert run(tmp_path / "sheet.csv", fmt="csv", mapping=mapping) == 2
        assert "at least `statement`" in capsys.readouterr().err

    def test_a_server_that_cannot_be_reached_stops_the_import(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(
            importer, "ClaimTrackerClient", partial(ClaimTrackerClient, max_retries=0)
        )
        path = ndjson(tmp_path, {"external_id": "x:1", "statement": "Fine."})
        assert run(path) == 1
        assert "import stopped:" in capsys.readouterr().err
