"""Spreadsheet CSV/TSV to import records, through a TOML column mapping.

The mapping names, for each field, a column: by header name (``header = true``) or by 1-based
position (``header = false``). See docs/examples/liar.mapping.toml for every key.
"""

import codecs
import csv
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.core.text import FORMULA_TRIGGERS

FIELDS = (
    "external_id",
    "statement",
    "speaker",
    "role",
    "affiliation",
    "context",
    "place",
    "topics",
    "date",
    "status",
    "verdict",
    "outlet",
    "language",
)
MAX_FIELD_BYTES = 1_048_576


class MappingError(Exception):
    """The mapping file itself is wrong."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # 1-based line of the file
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


@dataclass
class Mapping:
    columns: dict[str, str | int]
    delimiter: str = ","
    header: bool = True
    quoting: str = "minimal"
    encoding: str = "utf-8"
    topics_separator: str = ","
    language: str = "en"
    date_format: str | None = None
    external_id_prefix: str = ""
    external_id_strip_suffix: str = ""
    speaker_from_slug: bool = False
    unescape_formulas: bool = False
    speaker_external_id_prefix: str | None = None
    status_map: dict[str, str] = field(default_factory=dict)
    verdict_template: str | None = None
    evidence: dict[str, str] | None = None

    @classmethod
    def load(cls, path: Path) -> "Mapping":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise MappingError(f"{path}: {exc}") from exc
        columns = data.get("columns")
        if not isinstance(columns, dict) or "statement" not in columns:
            raise MappingError(f"{path}: [columns] must map at least `statement`")
        unknown = set(columns) - set(FIELDS)
        if unknown:
            raise MappingError(f"{path}: unknown fields in [columns]: {', '.join(sorted(unknown))}")
        try:
            codecs.lookup(str(data.get("encoding", "utf-8")))
        except LookupError as exc:
            raise MappingError(f"{path}: encoding: {exc}") from exc
        external = data.get("external_id", {})
        speaker = data.get("speaker", {})
        try:
            return cls(
                columns=columns,
                delimiter=data.get("delimiter", ","),
                header=bool(data.get("header", True)),
                quoting=data.get("quoting", "minimal"),
                encoding=data.get("encoding", "utf-8"),
                topics_separator=data.get("topics_separator", ","),
                language=data.get("language", "en"),
                date_format=data.get("date_format"),
                external_id_prefix=external.get("prefix", ""),
                external_id_strip_suffix=external.get("strip_suffix", ""),
                speaker_from_slug=bool(speaker.get("from_slug", False)),
                unescape_formulas=bool(data.get("unescape_formulas", False)),
                speaker_external_id_prefix=speaker.get("external_id_prefix"),
                status_map={str(k): str(v) for k, v in data.get("status_map", {}).items()},
                verdict_template=data.get("verdict", {}).get("template"),
                evidence=data.get("evidence"),
            )
        except (AttributeError, TypeError) as exc:
            raise MappingError(f"{path}: {exc}") from exc


_SURROGATE_ESCAPES = re.compile("[\udc80-\udcff]")


def _undecodable(row: list[str]) -> int | None:
    """The first byte the file's encoding could not decode in ``row``, if any."""
    for cell in row:
        if found := _SURROGATE_ESCAPES.search(cell):
            return ord(found.group()) - 0xDC00
    return None


def _slug_name(slug: str) -> str:
    return " ".join(part.capitalize() for part in slug.replace("_", "-").split("-") if part)


def read_csv(path: Path, mapping: Mapping) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """(row number, record or error) for every row; the whole file is read as text lines."""
    csv.field_size_limit(MAX_FIELD_BYTES)
    quoting: Literal[0, 3] = csv.QUOTE_NONE if mapping.quoting == "none" else csv.QUOTE_MINIMAL
    # Spreadsheets save UTF-8 with a byte order mark; utf-8-sig drops it (and reads files
    # without one alike), else it would stick to the first id or header name.
    encoding = "utf-8-sig" if codecs.lookup(mapping.encoding).name == "utf-8" else mapping.encoding
    # Undecodable bytes become lone surrogates, so the row that holds them can be named.
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle, delimiter=mapping.delimiter, quoting=quoting)
        positions: dict[str, int] = {}
        row_number = 0
        try:
            if mapping.header:
                header = next(reader, [])
                row_number = 1
                if _undecodable(header) is not None:
                    yield 1, RowError(1, f"the header is not valid {mapping.encoding}")
                    return
                for name, column in mapping.columns.items():
                    if str(column) not in header:
                        yield (
                            1,
                            RowError(
                                1,
                                f"the mapped column {column!r} ({name}) is not in the header "
                                f"{header[:20]} (is the delimiter {mapping.delimiter!r} right?)",
                            ),
                        )
                        return
                    positions[name] = header.index(str(column))
            else:
                positions = {name: int(column) - 1 for name, column in mapping.columns.items()}
            last_line = reader.line_num
            needed = max(positions.values()) + 1
            for row in reader:
                # A quoted cell may span lines: a row is named by the line it starts on.
                row_number, last_line = last_line + 1, reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if (undecodable := _undecodable(row)) is not None:
                    yield (
                        row_number,
                        RowError(
                            row_number,
                            f"is not valid {mapping.encoding} (byte 0x{undecodable:02x}); set "
                            '`encoding` in the mapping to the file\'s, e.g. "cp1252"',
                        ),
                    )
                    continue
                if len(row) < needed:
                    missing = [n for n, p in positions.items() if p >= len(row)]
                    yield (
                        row_number,
                        RowError(
                            row_number,
                            f"has {len(row)} column(s) but the mapping needs {needed} "
                            f"(missing: {', '.join(missing)}); is the delimiter "
                            f"{mapping.delimiter!r} right?",
                        ),
                    )
                    continue
                yield row_number, _record(row_number, row, positions, mapping)
        except csv.Error as exc:
            yield reader.line_num + 1, RowError(reader.line_num + 1, f"unreadable: {exc}")


def _record(
    row_number: int, row: list[str], positions: dict[str, int], mapping: Mapping
) -> dict[str, Any] | RowError:
    def cell(name: str) -> str | None:
        if name not in positions:
            return None
        value = row[positions[name]]
        if mapping.unescape_formulas and value[:1] == "'" and value[1:2] in FORMULA_TRIGGERS:
            value = value[1:]
        return value.strip() or None

    external_id = cell("external_id")
    if external_id is None:
        return RowError(row_number, "the external id column is empty")
    if mapping.external_id_strip_suffix and external_id.endswith(mapping.external_id_strip_suffix):
        external_id = external_id[: -len(mapping.external_id_strip_suffix)]
    record: dict[str, Any] = {
        "external_id": mapping.external_id_prefix + external_id,
        "statement": cell("statement"),
        "language": cell("language") or mapping.language,
    }
    for name in ("context", "place"):
        if cell(name):
            record[name] = cell(name)
    if topics := cell("topics"):
        record["topics"] = list(
            dict.fromkeys(t.strip().lower() for t in topics.split(mapping.topics_separator) if t)
        )
    if date := cell("date"):
        record["claimed_at"] = date
        if mapping.date_format:
            from datetime import UTC, datetime

            try:
                parsed = datetime.strptime(date, mapping.date_format).replace(tzinfo=UTC)
            except ValueError:
                return RowError(row_number, f"date {date!r} does not match {mapping.date_format}")
            record["claimed_at"] = parsed.isoformat()
    if speaker := cell("speaker"):
        ref: dict[str, Any] = {
            "name": _slug_name(speaker) if mapping.speaker_from_slug else speaker
        }
        if mapping.speaker_external_id_prefix is not None:
            ref["external_id"] = mapping.speaker_external_id_prefix + speaker
        if role := cell("role"):
            ref["role"] = role
        if affiliation := cell("affiliation"):
            ref["affiliation"] = affiliation
        record["speaker"] = ref
    if outlet := cell("outlet"):
        record["outlet"] = {"name": outlet}
    label = cell("status")
    if label is not None:
        status = mapping.status_map.get(label, label if not mapping.status_map else None)
        if status is None:
            known = ", ".join(sorted(mapping.status_map))
            return RowError(
                row_number, f"status label {label!r} is not in the mapping's status_map ({known})"
            )
        record["status"] = status
        if status != "unverified":
            verdict = cell("verdict")
            if verdict is None and mapping.verdict_template:
                verdict = mapping.verdict_template.format(label=label, status=status)
            record["verdict"] = verdict
            if mapping.evidence:
                item = {
                    k: v.format(label=label, status=status) for k, v in mapping.evidence.items()
                }
                record["evidence"] = [item]
    return record
