"""Text helpers: folding for case- and accent-insensitive lookups, spreadsheet formula cells."""

import unicodedata


def fold(value: str) -> str:
    """Lowercase without diacritics: 'Prigozjin', 'PRIGOZJIN' and 'Prigožjin' fold alike."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def like_pattern(value: str) -> str:
    """A LIKE pattern matching ``value`` anywhere, with LIKE's wildcards escaped (escape '\\')."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# OWASP's CSV-injection guidance: a spreadsheet runs a cell that begins with one of these as a
# formula (=HYPERLINK(...), =cmd|...). The CSV export puts a ' before them; an import with
# ``unescape_formulas`` takes it off again.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
