"""Spreadsheet CSV/TSV to import records, through a TOML column mapping.

The mapping names, for each field, a column: by header name (``header = true``) or by 1-based
position (``header = false``). See docs/examples/liar.mapping.toml for every key; ``Mapping``
is that file as a pydantic model, so a key it does not know, a value of the wrong type or an
encoding Python lacks is refused before any row is read.
"""

import codecs
import csv
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.vocabulary.formats import FORMULA_TRIGGERS
from app.vocabulary.records import EvidenceRecord

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


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExternalIdRule(_Table):
    """``[external_id]``: the file's id to the record's: ``12134.json`` -> ``liar:12134``."""

    prefix: str = ""
    strip_suffix: str = ""


class SpeakerRule(_Table):
    """``[speaker]``: a slug column to a name; an external id made from the cell."""

    from_slug: bool = False  # vicky-hartzler -> "Vicky Hartzler"
    external_id_prefix: str | None = None


class VerdictRule(_Table):
    """``[verdict]``: a verdict from the label, for files that carry none."""

    template: str | None = None  # with {label} and {status}


class Mapping(_Table):
    """A mapping file: which column holds each field, and how the file is written."""

    columns: dict[str, str | int]
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    header: bool = True
    quoting: Literal["minimal", "none"] = "minimal"
    encoding: str = "utf-8"
    topics_separator: str = Field(default=",", min_length=1)
    language: str = "en"
    date_format: str | None = None
    unescape_formulas: bool = False
    external_id: ExternalIdRule = ExternalIdRule()
    speaker: SpeakerRule = SpeakerRule()
    status_map: dict[str, str] = Field(default_factory=dict)
    verdict: VerdictRule = VerdictRule()
    evidence: dict[str, str] | None = None  # one evidence item per rated row, from templates

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str | int]) -> dict[str, str | int]:
        if "statement" not in columns:
            raise ValueError("[columns] must map at least `statement`")
        if unknown := set(columns) - set(FIELDS):
            raise ValueError(f"unknown fields in [columns]: {', '.join(sorted(unknown))}")
        return columns

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise ValueError(str(exc)) from exc
        return encoding

    @field_validator("evidence")
    @classmethod
    def _evidence_fields(cls, evidence: dict[str, str] | None) -> dict[str, str] | None:
        if evidence and (unknown := set(evidence) - set(EvidenceRecord.model_fields)):
            raise ValueError(f"unknown fields in [evidence]: {', '.join(sorted(unknown))}")
        return evidence

    @model_validator(mode="after")
    def _positions_without_a_header(self) -> Self:
        if not self.header:
            for name, column in self.columns.items():
                if not isinstance(column, int) or column < 1:
                    raise ValueError(
                        f"without a header, columns are 1-based positions: {name} = {column!r}"
                    )
        return self

    @classmethod
    def load(cls, path: Path) -> "Mapping":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise MappingError(f"{path}: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise MappingError(f"{path}: {_described(exc)}") from exc


def _described(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


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
    suffix = mapping.external_id.strip_suffix
    if suffix and external_id.endswith(suffix):
        external_id = external_id[: -len(suffix)]
    record: dict[str, Any] = {
        "external_id": mapping.external_id.prefix + external_id,
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
            "name": _slug_name(speaker) if mapping.speaker.from_slug else speaker
        }
        if mapping.speaker.external_id_prefix is not None:
            ref["external_id"] = mapping.speaker.external_id_prefix + speaker
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
            if verdict is None and mapping.verdict.template:
                verdict = mapping.verdict.template.format(label=label, status=status)
            record["verdict"] = verdict
            if mapping.evidence:
                item = {
                    k: v.format(label=label, status=status) for k, v in mapping.evidence.items()
                }
                record["evidence"] = [item]
    return record
