"""Reading an import file into records before anything is sent: NDJSON, ClaimReview JSON-LD and
the format switch (the CSV reader has tests of its own). No server."""

from pathlib import Path

import orjson
import pytest

from app.client.csv_mapping import RowError
from app.client.files import MAX_LINE_BYTES, read_claimreview, read_file, read_ndjson


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "records"
    path.write_bytes(data)
    return path


class TestReadNdjson:
    def test_each_object_keeps_its_line_number_and_blank_lines_are_skipped(
        self, tmp_path: Path
    ) -> None:
        path = write(tmp_path, b'{"external_id": "a"}\n\n   \n{"external_id": "b"}\n')
        assert list(read_ndjson(path)) == [(1, {"external_id": "a"}), (4, {"external_id": "b"})]

    def test_a_bad_line_is_a_row_error_and_the_others_still_read(self, tmp_path: Path) -> None:
        path = write(tmp_path, b'{"external_id": "a"}\n{oops\n[1, 2]\n{"external_id": "b"}\n')
        items = list(read_ndjson(path))
        assert [row for row, item in items if isinstance(item, dict)] == [1, 4]
        errors = {row: str(item) for row, item in items if isinstance(item, RowError)}
        assert errors[2].startswith("row 2: is not valid JSON")
        assert errors[3] == "row 3: is not a JSON object"

    def test_a_line_over_the_limit_is_refused_unparsed(self, tmp_path: Path) -> None:
        line = orjson.dumps({"statement": "x" * MAX_LINE_BYTES}) + b"\n"
        [(row, error)] = list(read_ndjson(write(tmp_path, line)))
        assert row == 1
        assert "over the 1,048,576-byte line limit" in str(error)


class TestReadClaimreview:
    def test_reviews_become_records_numbered_in_order(self, tmp_path: Path) -> None:
        reviews = [
            {"@type": "ClaimReview", "identifier": "r1", "claimReviewed": "One."},
            "not an object",
        ]
        items = list(read_claimreview(write(tmp_path, orjson.dumps(reviews))))
        assert items[0][0] == 1
        assert items[0][1]["external_id"] == "r1"  # type: ignore[index]
        assert str(items[1][1]) == "row 2: is not a ClaimReview object"

    def test_a_file_that_is_not_json_is_one_error(self, tmp_path: Path) -> None:
        [(row, error)] = list(read_claimreview(write(tmp_path, b"<html>")))
        assert row == 1
        assert str(error).startswith("row 1: the file is not valid JSON-LD")


class TestReadFile:
    def test_csv_needs_a_mapping(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="--mapping"):
            read_file(write(tmp_path, b""), "csv", None)

    def test_the_format_picks_the_reader(self, tmp_path: Path) -> None:
        path = write(tmp_path, b'{"external_id": "a"}\n')
        assert list(read_file(path, "ndjson", None)) == [(1, {"external_id": "a"})]
