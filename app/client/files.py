"""Reading an import file (ndjson, csv with a mapping, ClaimReview JSON-LD) into records,
client side, with every problem named by its row before anything is sent."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from app.client.csv_mapping import Mapping, RowError, read_csv
from app.vocabulary import claimreview

MAX_LINE_BYTES = 1_048_576


def read_ndjson(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if len(line) > MAX_LINE_BYTES:
                yield (
                    number,
                    RowError(
                        number,
                        f"is {len(line):,} bytes, over the {MAX_LINE_BYTES:,}-byte line limit",
                    ),
                )
                continue
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield number, RowError(number, f"is not valid JSON ({exc})")
                continue
            if not isinstance(value, dict):
                yield number, RowError(number, "is not a JSON object")
                continue
            yield number, value


def read_claimreview(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        yield 1, RowError(1, f"the file is not valid JSON-LD ({exc})")
        return
    for index, record in enumerate(claimreview.records_from_jsonld(data), start=1):
        if isinstance(record, dict):
            yield index, record
        else:
            yield index, RowError(index, "is not a ClaimReview object")


def read_file(
    path: Path, fmt: str, mapping: Mapping | None
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    if fmt == "ndjson":
        return read_ndjson(path)
    if fmt == "claimreview":
        return read_claimreview(path)
    if mapping is None:
        raise ValueError("--format csv needs --mapping FILE")
    return read_csv(path, mapping)
