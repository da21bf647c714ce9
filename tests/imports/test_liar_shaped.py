"""The CSV/TSV import path on files in LIAR's exact layout that the tests write themselves, so
it is tested on every machine (the real dataset only runs where ../shared is, see
test_end_to_end.py): the mapping, the awkward rows, the batch import and `claimtracker import`."""

from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from app.cli import cli
from app.client import ClaimTrackerClient, importer
from app.client.csv_mapping import Mapping, MappingError, RowError, read_csv
from app.core.db import Database
from app.vocabulary.records import ImportRecord
from tests.conftest import create_key
from tests.imports import liar_rows as liar
from tests.servers import ROOT

LIAR_MAPPING = ROOT / "docs" / "examples" / "liar.mapping.toml"


@pytest.fixture
def mapping() -> Mapping:
    return Mapping.load(LIAR_MAPPING)


@pytest.fixture
def quoted_mapping(tmp_path: Path) -> Mapping:
    """LIAR's mapping for the same layout saved by a spreadsheet (quoted cells)."""
    path = tmp_path / "quoted.mapping.toml"
    text = LIAR_MAPPING.read_text(encoding="utf-8")
    path.write_text(text.replace('quoting = "none"', 'quoting = "minimal"'), encoding="utf-8")
    return Mapping.load(path)


def read(path: Path, mapping: Mapping) -> list[tuple[int, dict[str, Any] | RowError]]:
    return list(read_csv(path, mapping))


def records_of(path: Path, mapping: Mapping) -> dict[str, dict[str, Any]]:
    items = read(path, mapping)
    errors = [item for _, item in items if isinstance(item, RowError)]
    assert not errors, errors
    return {item["external_id"]: item for _, item in items if isinstance(item, dict)}


def post(client: TestClient, records: list[dict[str, Any]]) -> dict[str, Any]:
    """One batch, as `claimtracker import` sends it (NDJSON)."""
    body = b"".join(orjson.dumps(record) + b"\n" for record in records)
    response = client.post(
        "/api/v1/imports", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    summary: dict[str, Any] = response.json()
    return summary


def liar_file(tmp_path: Path, rows: list[liar.Row], **options: Any) -> Path:
    return liar.write_liar(tmp_path / "liar.tsv", rows, **options)


class TestReadingLiarRows:
    def test_every_row_becomes_a_record_with_the_mapped_fields(
        self, tmp_path: Path, mapping: Mapping
    ) -> None:
        rows = liar.plain_rows() + liar.AWKWARD_VALID
        records = records_of(liar_file(tmp_path, rows), mapping)
        assert len(records) == len(rows)
        assert records["liar:1000"] == {
            "external_id": "liar:1000",
            "statement": "Says the county spent 1000 million dollars on one bridge.",
            "language": "en",
            "context": "a radio interview",
            "place": "Ohio",
            "topics": ["economy", "jobs"],
            "speaker": {
                "name": "Jane Roe",
                "external_id": "politifact:jane-roe",
                "role": "State senator",
                "affiliation": "democrat",
            },
            "status": "confirmed",
            "verdict": "PolitiFact rated this true.",
            "evidence": [
                {
                    "title": "PolitiFact rating: true",
                    "stance": "context",
                    "url": "https://www.politifact.com/",
                    "note": "PolitiFact rated this true",
                }
            ],
        }
        for record in records.values():
            ImportRecord.model_validate(record)  # what `claimtracker import` checks

    def test_each_label_maps_to_its_status(self, tmp_path: Path, mapping: Mapping) -> None:
        rows = [liar.liar_row(n, label) for n, label in enumerate(liar.LABELS, start=1)]
        records = records_of(liar_file(tmp_path, rows), mapping)
        statuses = {r["evidence"][0]["title"]: r["status"] for r in records.values()}
        assert statuses == {
            "PolitiFact rating: true": "confirmed",
            "PolitiFact rating: mostly-true": "mostly_true",
            "PolitiFact rating: half-true": "mixed",
            "PolitiFact rating: barely-true": "mostly_false",
            "PolitiFact rating: false": "false",
            "PolitiFact rating: pants-fire": "false",
        }

    def test_bare_quotes_are_kept_verbatim(self, tmp_path: Path, mapping: Mapping) -> None:
        records = records_of(liar_file(tmp_path, [liar.QUOTES, liar.LEADING_QUOTE]), mapping)
        assert records["liar:1"]["statement"] == liar.QUOTES[2]
        assert records["liar:2"]["statement"] == liar.LEADING_QUOTE[2]
        assert records["liar:2"]["status"] == "confirmed"  # the odd quote did not eat the row

    def test_cyrillic_text_and_slugs_survive(self, tmp_path: Path, mapping: Mapping) -> None:
        record = records_of(liar_file(tmp_path, [liar.CYRILLIC]), mapping)["liar:3"]
        assert record["statement"] == liar.CYRILLIC[2]
        assert record["speaker"] == {
            "name": "Дмитрий Песков",
            "external_id": "politifact:дмитрий-песков",
            "role": "Пресс-секретарь президента",
            "affiliation": "none",
        }
        assert record["topics"] == ["армия", "граница"]
        assert record["context"] == "брифинг в Кремле"
        assert "place" not in record

    def test_empty_fields_are_left_out_not_stored_empty(
        self, tmp_path: Path, mapping: Mapping
    ) -> None:
        record = records_of(liar_file(tmp_path, [liar.EMPTY_FIELDS]), mapping)["liar:4"]
        assert {"context", "place", "topics"}.isdisjoint(record)
        assert record["speaker"] == {"name": "Jane Roe", "external_id": "politifact:jane-roe"}

    def test_cells_are_trimmed_and_topics_deduplicated(
        self, tmp_path: Path, mapping: Mapping
    ) -> None:
        rows = [liar.PADDED, liar.liar_row(10, subjects="taxes,Economy,taxes,")]
        records = records_of(liar_file(tmp_path, rows), mapping)
        assert records["liar:5"]["statement"] == "Says taxes went up twice."
        assert records["liar:5"]["speaker"]["external_id"] == "politifact:jane-roe"
        assert records["liar:10"]["topics"] == ["taxes", "economy"]

    def test_bad_rows_are_named_by_line_and_the_others_still_read(
        self, tmp_path: Path, mapping: Mapping
    ) -> None:
        rows = [liar.liar_row(20), liar.UNKNOWN_LABEL, liar.NO_ID, liar.SHORT, liar.liar_row(21)]
        items = read(liar_file(tmp_path, rows), mapping)
        errors = {row: str(item) for row, item in items if isinstance(item, RowError)}
        assert set(errors) == {2, 3, 4}
        assert "'sorta-true'" in errors[2]
        assert "half-true" in errors[2]  # the labels it knows
        assert "external id column is empty" in errors[3]
        assert "has 4 column(s)" in errors[4]
        assert [row for row, item in items if isinstance(item, dict)] == [1, 5]

    def test_blank_lines_are_skipped_and_rows_keep_their_line_numbers(
        self, tmp_path: Path, mapping: Mapping
    ) -> None:
        path = tmp_path / "gaps.tsv"
        rows = ["\t".join(liar.liar_row(n)) for n in (30, 31)]
        path.write_text(f"\n{rows[0]}\n\n   \n{rows[1]}\n\n", encoding="utf-8")
        items = read(path, mapping)
        assert [(row, item["external_id"]) for row, item in items] == [  # type: ignore[index]
            (2, "liar:30"),
            (5, "liar:31"),
        ]

    def test_windows_line_endings_read_like_unix_ones(
        self, tmp_path: Path, mapping: Mapping
    ) -> None:
        rows = [*liar.plain_rows(6), liar.CYRILLIC]
        unix = records_of(liar.write_liar(tmp_path / "lf.tsv", rows), mapping)
        windows = records_of(liar.write_liar(tmp_path / "crlf.tsv", rows, newline="\r\n"), mapping)
        assert windows == unix

    def test_a_byte_order_mark_is_not_part_of_the_first_id(
        self, tmp_path: Path, mapping: Mapping
    ) -> None:
        # Spreadsheets save UTF-8 with a BOM; it must not become "liar:\ufeff1000".
        records = records_of(liar_file(tmp_path, liar.plain_rows(2), bom=True), mapping)
        assert set(records) == {"liar:1000", "liar:1001"}

    def test_a_byte_order_mark_does_not_hide_the_first_header(self, tmp_path: Path) -> None:
        path = tmp_path / "sheet.csv"
        path.write_bytes("\ufeffid,claim\nx1,The river is dry.\n".encode())
        mapping_path = tmp_path / "m.toml"
        mapping_path.write_text('[columns]\nexternal_id = "id"\nstatement = "claim"\n')
        records = records_of(path, Mapping.load(mapping_path))
        assert records["x1"]["statement"] == "The river is dry."

    def test_a_file_that_is_not_utf8_is_a_row_error_naming_the_encoding(
        self, tmp_path: Path, mapping: Mapping
    ) -> None:
        path = tmp_path / "latin1.tsv"
        rows = [liar.liar_row(40), liar.liar_row(41, "false", "Says the café closed.")]
        path.write_bytes("".join("\t".join(r) + "\n" for r in rows).encode("latin-1"))
        items = read(path, mapping)
        errors = [item for _, item in items if isinstance(item, RowError)]
        assert len(errors) == 1
        assert "utf-8" in str(errors[0])
        assert "encoding" in str(errors[0])  # the mapping key that fixes it

    def test_a_header_that_is_not_utf8_is_refused_as_row_1(self, tmp_path: Path) -> None:
        path = tmp_path / "sheet.csv"
        path.write_bytes("id,déclaration\nx1,Le fleuve est à sec.\n".encode("latin-1"))
        mapping_path = tmp_path / "m.toml"
        mapping_path.write_text(
            '[columns]\nexternal_id = "id"\nstatement = "déclaration"\n', encoding="utf-8"
        )
        [(row, error)] = read(path, Mapping.load(mapping_path))
        assert row == 1
        assert "header is not valid utf-8" in str(error)

    def test_an_unknown_encoding_is_a_mapping_error(self, tmp_path: Path) -> None:
        path = tmp_path / "m.toml"
        path.write_text('encoding = "utf-9"\n[columns]\nstatement = 1\n')
        with pytest.raises(MappingError, match="utf-9"):
            Mapping.load(path)


class TestQuotedCells:
    """The same layout saved by a spreadsheet: tabs, quotes and newlines inside quoted cells."""

    def test_a_quoted_tab_stays_inside_its_field(
        self, tmp_path: Path, quoted_mapping: Mapping
    ) -> None:
        row = liar.liar_row(50, "false", "Says\tthe tab\tstays.", context="a\tspeech")
        record = records_of(liar.write_quoted(tmp_path / "q.tsv", [row]), quoted_mapping)
        assert record["liar:50"]["statement"] == "Says\tthe tab\tstays."
        assert record["liar:50"]["context"] == "a\tspeech"
        assert record["liar:50"]["status"] == "false"

    def test_doubled_quotes_become_one(self, tmp_path: Path, quoted_mapping: Mapping) -> None:
        path = liar.write_quoted(tmp_path / "q.tsv", [liar.QUOTES, liar.LEADING_QUOTE])
        assert '""If you add' in path.read_text(encoding="utf-8")
        records = records_of(path, quoted_mapping)
        assert records["liar:1"]["statement"] == liar.QUOTES[2]
        assert records["liar:2"]["statement"] == liar.LEADING_QUOTE[2]

    def test_a_row_with_a_newline_in_a_cell_is_numbered_by_its_first_line(
        self, tmp_path: Path, quoted_mapping: Mapping
    ) -> None:
        rows = [
            liar.liar_row(60, "false", "Line one\nline two\nline three."),
            liar.UNKNOWN_LABEL,
        ]
        items = read(liar.write_quoted(tmp_path / "q.tsv", rows), quoted_mapping)
        assert items[0][0] == 1
        assert items[0][1]["statement"] == "Line one\nline two\nline three."  # type: ignore[index]
        assert items[1][0] == 4
        assert str(items[1][1]).startswith("row 4:")


class TestImportingLiarRows:
    def test_every_row_lands_once_and_a_second_run_changes_nothing(
        self, tmp_path: Path, mapping: Mapping, client: TestClient
    ) -> None:
        rows = liar.plain_rows() + liar.AWKWARD_VALID
        records = list(records_of(liar_file(tmp_path, rows), mapping).values())
        first = post(client, records)
        assert (first["created"], first["failed"]) == (len(rows), 0), first
        second = post(client, records)
        assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, len(rows))

    def test_cyrillic_claims_and_speakers_are_found_by_search(
        self, tmp_path: Path, mapping: Mapping, client: TestClient
    ) -> None:
        records = records_of(liar_file(tmp_path, liar.AWKWARD_VALID), mapping)
        post(client, list(records.values()))
        claims = client.get("/api/v1/claims", params={"q": "учения"}).json()["items"]
        assert [claim["external_id"] for claim in claims] == ["liar:3"]
        speakers = client.get("/api/v1/speakers", params={"q": "Песков"}).json()["items"]
        assert [speaker["name"] for speaker in speakers] == ["Дмитрий Песков"]

    def test_a_row_repeated_in_the_file_lands_once(
        self, tmp_path: Path, mapping: Mapping, client: TestClient
    ) -> None:
        row = liar.liar_row(70, "half-true")
        items = read(liar_file(tmp_path, [row, liar.liar_row(71), row]), mapping)
        records = [item for _, item in items if isinstance(item, dict)]
        summary = post(client, records)
        assert summary["failed"] == 0, summary
        assert summary["created"] == 2
        claims = client.get("/api/v1/claims", params={"limit": 10}).json()["items"]
        assert sorted(claim["external_id"] for claim in claims) == ["liar:70", "liar:71"]

    def test_a_later_row_with_the_same_id_updates_the_claim(
        self, tmp_path: Path, mapping: Mapping, client: TestClient
    ) -> None:
        rows = [liar.liar_row(80, "half-true"), liar.liar_row(80, "pants-fire")]
        items = read(liar_file(tmp_path, rows), mapping)
        summary = post(client, [item for _, item in items if isinstance(item, dict)])
        assert summary["failed"] == 0, summary
        claims = client.get("/api/v1/claims", params={"limit": 10}).json()["items"]
        assert [(c["external_id"], c["status"]) for c in claims] == [("liar:80", "false")]


@pytest.fixture
def import_command(db: Database, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`claimtracker import` against the test's app, in process (its client rides the test
    client's transport), as an editor."""
    monkeypatch.setattr(
        importer,
        "ClaimTrackerClient",
        partial(ClaimTrackerClient, transport=client._transport, max_retries=0),
    )
    token = create_key(db, "editor")

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(
            cli, ["import", *args, "--url", "http://testserver", "--token", token]
        )
        return result.exit_code, result.output

    return run


class TestImportCommand:
    def test_the_cli_imports_a_liar_shaped_file(
        self, tmp_path: Path, client: TestClient, import_command: Any
    ) -> None:
        rows = liar.plain_rows() + liar.AWKWARD_VALID
        path = liar_file(tmp_path, rows)
        code, output = import_command(
            str(path), "--format", "csv", "--mapping", str(LIAR_MAPPING), "--batch-size", "7"
        )
        assert code == 0, output
        claims = client.get("/api/v1/claims", params={"limit": 100}).json()["items"]
        assert len(claims) == len(rows)
        code, output = import_command(str(path), "--format", "csv", "--mapping", str(LIAR_MAPPING))
        assert code == 0, output
        assert f"{len(rows)}" in output.split("unchanged")[-1]  # the summary: all unchanged

    def test_one_bad_row_stops_the_file_before_anything_is_sent(
        self, tmp_path: Path, client: TestClient, import_command: Any
    ) -> None:
        path = liar_file(tmp_path, [*liar.plain_rows(5), liar.UNKNOWN_LABEL])
        code, output = import_command(str(path), "--format", "csv", "--mapping", str(LIAR_MAPPING))
        assert code == 2
        assert "row 6:" in output
        assert "sorta-true" in output
        assert "nothing was imported" in output
        assert client.get("/api/v1/claims").json()["items"] == []
