"""Text helpers: folding for case- and accent-insensitive lookups, LIKE patterns."""

import unicodedata


def fold(value: str) -> str:
    """Lowercase without diacritics: 'Prigozjin', 'PRIGOZJIN' and 'Prigožjin' fold alike."""
    if value.isascii():  # NFKD leaves ASCII as it is and it has no combining marks
        return " ".join(value.casefold().split())
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def like_pattern(value: str) -> str:
    """A LIKE pattern matching ``value`` anywhere, with LIKE's wildcards escaped (escape '\\')."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
