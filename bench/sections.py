"""One section of bench/RESULTS.md replaced in place, for the benches that also run alone
(``python -m bench.writes`` and the like): the other sections and the run's total stay."""

from pathlib import Path

RUN_TOTAL = "\nThe whole run took"


def replace_section(
    document: str, heading: str, section: str, *, before: tuple[str, ...] = ()
) -> str:
    """``document`` with the section that starts with ``heading`` (up to the next ``## ``
    section or the run's total) replaced by ``section``. A document without it gets it before
    the first of ``before`` it holds, else before the run's total, else at the end."""
    start = document.find(heading)
    if start == -1:
        for mark in (*before, RUN_TOTAL):
            at = document.find(mark)
            if at != -1:
                start = end = at + 1 if mark.startswith("\n") else at
                break
        else:
            return document.rstrip("\n") + "\n\n" + section
    else:
        following = document.find("\n## ", start + len(heading))
        took = document.find(RUN_TOTAL, start)
        ends = [pos + 1 for pos in (following, took) if pos != -1]
        end = min(ends) if ends else len(document)
    return document[:start] + section.rstrip("\n") + "\n\n" + document[end:].lstrip("\n")


def write_section(path: Path, heading: str, section: str, *, before: tuple[str, ...] = ()) -> None:
    """``replace_section`` in the file at ``path`` (created if missing)."""
    document = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(replace_section(document, heading, section, before=before), encoding="utf-8")
