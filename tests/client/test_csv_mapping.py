"""The CSV mapping model and the CSV reader, on small files written here: no server."""

from pathlib import Path
from typing import Any

import pytest

from app.client.csv_mapping import Mapping, MappingError, RowError, read_csv
from tests.servers import ROOT

EXAMPLES = ROOT / "docs" / "examples"
HEADER_MAPPING = """
[columns]
external_id = "id"
statement = "claim"
speaker = "who"
outlet = "where"
topics = "tags"
status = "rating"
date = "when"
"""


def mapping_from(tmp_path: Path, text: str) -> Mapping:
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    return Mapping.load(path)


def read(
    tmp_path: Path, mapping: Mapping, text: str
) -> list[tuple[int, dict[str, Any] | RowError]]:
    path = tmp_path / "sheet.csv"
    path.write_text(text, encoding="utf-8")
    return list(read_csv(path, mapping))


class TestMappingLoad:
    def test_the_liar_example_reads_its_tables_into_rules(self) -> None:
        mapping = Mapping.load(EXAMPLES / "liar.mapping.toml")
        assert (mapping.delimiter, mapping.header, mapping.quoting) == ("\t", False, "none")
        assert mapping.columns["statement"] == 3
        assert (mapping.external_id.prefix, mapping.external_id.strip_suffix) == (
            "liar:",
            ".json",
        )
        assert mapping.speaker.from_slug
        assert mapping.speaker.external_id_prefix == "politifact:"
        assert mapping.status_map["pants-fire"] == "false"
        assert mapping.verdict.template == "PolitiFact rated this {label}."
        assert mapping.evidence is not None
        assert mapping.evidence["stance"] == "context"

    def test_the_export_example_loads_with_the_defaults(self) -> None:
        mapping = Mapping.load(EXAMPLES / "export.mapping.toml")
        assert mapping.unescape_formulas
        assert mapping.topics_separator == ";"
        assert mapping.external_id.prefix == ""
        assert not mapping.speaker.from_slug
        assert mapping.status_map == {}

    def test_a_key_it_does_not_know_is_refused_by_name(self, tmp_path: Path) -> None:
        with pytest.raises(MappingError, match="delimeter"):
            mapping_from(tmp_path, 'delimeter = ";"\n[columns]\nstatement = "s"\n')

    def test_a_misspelt_key_in_a_table_is_refused_by_name(self, tmp_path: Path) -> None:
        with pytest.raises(MappingError, match=r"speaker\.from_slugs"):
            mapping_from(tmp_path, '[columns]\nstatement = "s"\n[speaker]\nfrom_slugs = true\n')

    def test_columns_must_map_the_statement(self, tmp_path: Path) -> None:
        with pytest.raises(MappingError, match="at least `statement`"):
            mapping_from(tmp_path, '[columns]\nexternal_id = "id"\n')

    def test_a_column_for_a_field_records_do_not_have_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(MappingError, match="unknown fields in \\[columns\\]: colour"):
            mapping_from(tmp_path, '[columns]\nstatement = "s"\ncolour = "c"\n')

    def test_an_unknown_encoding_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(MappingError, match="utf-9"):
            mapping_from(tmp_path, 'encoding = "utf-9"\n[columns]\nstatement = 1\n')

    def test_without_a_header_columns_are_positions_from_1(self, tmp_path: Path) -> None:
        with pytest.raises(MappingError, match="1-based positions: statement = 0"):
            mapping_from(tmp_path, "header = false\n[columns]\nstatement = 0\n")
        with pytest.raises(MappingError, match="1-based positions"):
            mapping_from(tmp_path, 'header = false\n[columns]\nstatement = "claim"\n')

    def test_a_delimiter_is_one_character(self, tmp_path: Path) -> None:
        with pytest.raises(MappingError, match="delimiter"):
            mapping_from(tmp_path, 'delimiter = ";;"\n[columns]\nstatement = "s"\n')

    def test_quoting_is_minimal_or_none(self, tmp_path: Path) -> None:
        with pytest.raises(MappingError, match="quoting"):
            mapping_from(tmp_path, 'quoting = "all"\n[columns]\nstatement = "s"\n')

    def test_evidence_templates_name_evidence_fields(self, tmp_path: Path) -> None:
        with pytest.raises(MappingError, match="unknown fields in \\[evidence\\]: link"):
            mapping_from(tmp_path, '[columns]\nstatement = "s"\n[evidence]\nlink = "x"\n')

    def test_a_file_that_is_not_toml_is_a_mapping_error(self, tmp_path: Path) -> None:
        with pytest.raises(MappingError, match=r"m\.toml"):
            mapping_from(tmp_path, "[columns\n")


class TestReadCsv:
    def test_columns_are_found_by_header_name_and_cells_trimmed(self, tmp_path: Path) -> None:
        mapping = mapping_from(tmp_path, HEADER_MAPPING)
        [(row, record)] = read(
            tmp_path,
            mapping,
            "who,id,claim,where,tags,rating,when\n"
            ' Jane Roe ,x1, The river is dry. ,Telegram,"Water, drought,water",,\n',
        )
        assert row == 2
        assert record == {
            "external_id": "x1",
            "statement": "The river is dry.",
            "language": "en",
            "topics": ["water", "drought"],
            "speaker": {"name": "Jane Roe"},
            "outlet": {"name": "Telegram"},
        }

    def test_without_a_status_map_the_label_is_the_status(self, tmp_path: Path) -> None:
        mapping = mapping_from(tmp_path, HEADER_MAPPING)
        [(_, record)] = read(
            tmp_path, mapping, "id,claim,who,where,tags,rating,when\nx1,A claim.,,,,false,\n"
        )
        assert isinstance(record, dict)
        assert (record["status"], record["verdict"]) == ("false", None)

    def test_a_label_outside_the_status_map_is_a_row_error_listing_the_known(
        self, tmp_path: Path
    ) -> None:
        mapping = mapping_from(
            tmp_path,
            '[columns]\nstatement = "c"\nexternal_id = "i"\nstatus = "r"\n'
            '[status_map]\n"true" = "confirmed"\n"nope" = "false"\n',
        )
        items = read(tmp_path, mapping, "i,c,r\nx1,One.,true\nx2,Two.,maybe\n")
        assert items[0][1]["status"] == "confirmed"  # type: ignore[index]
        assert isinstance(items[1][1], RowError)
        assert str(items[1][1]) == (
            "row 3: status label 'maybe' is not in the mapping's status_map (nope, true)"
        )

    def test_the_verdict_and_evidence_templates_fill_rated_rows_only(self, tmp_path: Path) -> None:
        mapping = mapping_from(
            tmp_path,
            '[columns]\nstatement = "c"\nexternal_id = "i"\nstatus = "r"\n'
            '[verdict]\ntemplate = "Rated {label} ({status})."\n'
            '[evidence]\ntitle = "Rating: {label}"\nnote = "{status}"\n',
        )
        items = dict(read(tmp_path, mapping, "i,c,r\nx1,One.,false\nx2,Two.,unverified\n"))
        assert items[2] == {
            "external_id": "x1",
            "statement": "One.",
            "language": "en",
            "status": "false",
            "verdict": "Rated false (false).",
            "evidence": [{"title": "Rating: false", "note": "false"}],
        }
        assert items[3] == {
            "external_id": "x2",
            "statement": "Two.",
            "language": "en",
            "status": "unverified",
        }

    def test_a_date_format_turns_dates_into_utc_timestamps(self, tmp_path: Path) -> None:
        mapping = mapping_from(tmp_path, 'date_format = "%d.%m.%Y"\n' + HEADER_MAPPING)
        items = read(
            tmp_path,
            mapping,
            "id,claim,who,where,tags,rating,when\nx1,One.,,,,,08.03.2023\nx2,Two.,,,,,2023-03-08\n",
        )
        assert items[0][1]["claimed_at"] == "2023-03-08T00:00:00+00:00"  # type: ignore[index]
        assert str(items[1][1]) == "row 3: date '2023-03-08' does not match %d.%m.%Y"

    def test_id_prefix_suffix_and_speaker_slugs(self, tmp_path: Path) -> None:
        mapping = mapping_from(
            tmp_path,
            "header = false\n[columns]\nexternal_id = 1\nstatement = 2\nspeaker = 3\n"
            '[external_id]\nprefix = "desk:"\nstrip_suffix = ".json"\n'
            '[speaker]\nfrom_slug = true\nexternal_id_prefix = "pf:"\n',
        )
        [(_, record)] = read(tmp_path, mapping, "17.json,A claim.,jane-roe\n")
        assert record == {
            "external_id": "desk:17",
            "statement": "A claim.",
            "language": "en",
            "speaker": {"name": "Jane Roe", "external_id": "pf:jane-roe"},
        }

    def test_formula_escapes_come_off_only_when_asked(self, tmp_path: Path) -> None:
        text = "i,c\nx1,'=1+1\nx2,'plain\n"
        kept = mapping_from(tmp_path, '[columns]\nexternal_id = "i"\nstatement = "c"\n')
        assert [r["statement"] for _, r in read(tmp_path, kept, text)] == ["'=1+1", "'plain"]  # type: ignore[index]
        unescaped = mapping_from(
            tmp_path, 'unescape_formulas = true\n[columns]\nexternal_id = "i"\nstatement = "c"\n'
        )
        assert [r["statement"] for _, r in read(tmp_path, unescaped, text)] == ["=1+1", "'plain"]  # type: ignore[index]

    def test_a_mapped_column_missing_from_the_header_stops_at_row_1(self, tmp_path: Path) -> None:
        mapping = mapping_from(tmp_path, '[columns]\nexternal_id = "id"\nstatement = "claim"\n')
        [(row, error)] = read(tmp_path, mapping, "id;claim\nx1;One.\n")
        assert row == 1
        assert "'id' (external_id) is not in the header" in str(error)
        assert "delimiter ','" in str(error)

    def test_a_short_row_names_the_missing_fields(self, tmp_path: Path) -> None:
        mapping = mapping_from(
            tmp_path, "header = false\n[columns]\nexternal_id = 1\nstatement = 3\n"
        )
        [(_, error)] = read(tmp_path, mapping, "x1,only two\n")
        assert str(error) == (
            "row 1: has 2 column(s) but the mapping needs 3 (missing: statement); "
            "is the delimiter ',' right?"
        )

    def test_an_empty_id_is_a_row_error(self, tmp_path: Path) -> None:
        mapping = mapping_from(tmp_path, '[columns]\nexternal_id = "i"\nstatement = "c"\n')
        [(_, error)] = read(tmp_path, mapping, "i,c\n ,One.\n")
        assert str(error) == "row 2: the external id column is empty"
