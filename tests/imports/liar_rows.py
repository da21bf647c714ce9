"""LIAR-shaped files the tests write themselves: the dataset's 14 tab-separated columns, no
header, with rows of our own (the real dataset never enters the repository).

Columns: id ("<n>.json"), label, statement, subjects, speaker slug, job title, state, party,
five credit-history counts, context.
"""

import csv
from pathlib import Path

LABELS = ("true", "mostly-true", "half-true", "barely-true", "false", "pants-fire")
SPEAKERS = ("jane-roe", "john-q-public", "maria-de-la-cruz", "o-brien_pat")

Row = list[str]


def liar_row(
    number: int,
    label: str = "false",
    statement: str | None = None,
    *,
    subjects: str = "economy,jobs",
    speaker: str = "jane-roe",
    job: str = "State senator",
    state: str = "Ohio",
    party: str = "democrat",
    context: str = "a radio interview",
) -> Row:
    statement = statement or f"Says the county spent {number} million dollars on one bridge."
    counts = [str((number * k) % 7) for k in range(1, 6)]
    return [
        f"{number}.json",
        label,
        statement,
        subjects,
        speaker,
        job,
        state,
        party,
        *counts,
        context,
    ]


def plain_rows(count: int = 24, start: int = 1000) -> list[Row]:
    """Ordinary rows: every label and speaker in turn."""
    return [
        liar_row(
            start + i,
            LABELS[i % len(LABELS)],
            speaker=SPEAKERS[i % len(SPEAKERS)],
            subjects=("economy,jobs", "health-care", "taxes,Economy,taxes")[i % 3],
        )
        for i in range(count)
    ]


# The awkward rows, by what makes them awkward. LIAR itself is unquoted: a `"` is just a
# character, balanced or not.
QUOTES = liar_row(
    1,
    "half-true",
    'On the stimulus, "If you add it all up, it is less than 1 percent of the package."',
)
LEADING_QUOTE = liar_row(2, "true", '"We will fix the roads," she said, and then: "by May.')
CYRILLIC = liar_row(
    3,
    "pants-fire",
    "Российские войска у границы проводят только учения.",  # noqa: RUF001
    subjects="армия,граница",
    speaker="дмитрий-песков",
    job="Пресс-секретарь президента",
    state="",
    party="none",
    context="брифинг в Кремле",
)
EMPTY_FIELDS = liar_row(4, "barely-true", subjects="", job="", state="", party="", context="")
PADDED = liar_row(5, "mostly-true", "  Says taxes went up twice.  ", speaker="  jane-roe ")
SYMBOLS = liar_row(6, "false", "Says it's 100% true & <b>proven</b> — 50¢ = $0.50; «sic».")
UNKNOWN_LABEL = liar_row(7, "sorta-true")
NO_ID = ["", *liar_row(8)[1:]]
SHORT = liar_row(9)[:4]

AWKWARD_VALID = [QUOTES, LEADING_QUOTE, CYRILLIC, EMPTY_FIELDS, PADDED, SYMBOLS]


def write_liar(path: Path, rows: list[Row], *, newline: str = "\n", bom: bool = False) -> Path:
    """Exactly as LIAR is written: cells joined by tabs, nothing quoted or escaped."""
    text = "".join("\t".join(row) + newline for row in rows)
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def write_quoted(path: Path, rows: list[Row]) -> Path:
    """The same layout as a spreadsheet saves it: cells with a tab, quote or newline quoted."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter="\t", lineterminator="\n").writerows(rows)
    return path
