"""Normalised text for matching: what "the same statement" means before any scoring.

Pure functions, no database. ``normalize`` folds case and accents (``app.core.text.fold``),
turns punctuation into spaces, keeps numbers as written ("1,000" stays "1,000", "3.5" stays
"3.5": a different number is a different claim), and drops a leading reporting verb ("Says
that ...", "Says ...", "Zegt dat ..."): LIAR-style statements start with one, the claim is
what follows. ``text_hash`` of the normalised text finds exact duplicates.
"""

import hashlib
import re

from app.core.text import fold

# A number as written: digits with inner separators ("1,000", "3.5", "2,5"); kept whole.
_NUMBER = r"\d+(?:[.,]\d+)*"
# Everything that is neither a letter, a digit nor a number's inner separator is a space;
# % stays a word of its own ("40%" and "40 %" read alike).
_TOKEN = re.compile(rf"{_NUMBER}|[^\W\d_]+|%|\d+")
# Reporting verbs that open a statement: "Says that", "Says", "Zegt dat", ...
_LEADING = re.compile(
    r"^(?:(?:he|she|they|it)\s+)?(?:says|said|claims|claimed|zegt|stelt|beweert)"
    r"(?:\s+(?:that|dat))?\s+"
)

# Words that carry no meaning of their own for matching (English and Dutch, the desk's two
# working languages; any other language simply keeps all its words).
_STOPWORDS_TEXT = """
a an the and or but if of to in on at by for with from as is are was were be been being
has have had do does did this that these those it its he she they we you i his her their
our your them him me my not no than then there here so such into about over under out up
will would can could should may might must also just only very more most some any all
says said
de het een en of maar als dan van in op aan bij voor met uit naar om te is zijn was waren
wordt worden werd heeft hebben had dit dat deze die er hier daar niet geen ook nog wel
zo zij ze hij wij we ik u je jij hun haar ons onze meer veel al wat wie waar
zegt stelt
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def normalize(text: str) -> str:
    """The matching form of ``text``: folded, punctuation gone, numbers as written, without a
    leading "Says that"."""
    folded = fold(text)
    words = " ".join(_initials(_TOKEN.findall(folded)))
    stripped = _LEADING.sub("", words, count=1)
    return stripped or words


def _initials(tokens: list[str]) -> list[str]:
    """Runs of single letters join up: "U.S." and "US" both read "us" (a run does not start
    with the words "a" and "i")."""
    joined: list[str] = []
    run = ""
    for word in tokens:
        if len(word) == 1 and word.isalpha() and (run or word not in "ai"):
            run += word
            continue
        if run:
            joined.append(run)
            run = ""
        joined.append(word)
    if run:
        joined.append(run)
    return joined


def text_hash(text: str) -> str:
    """SHA-256 (hex) of the normalised text: equal for exact duplicates."""
    return normalized_hash(normalize(text))


def normalized_hash(normalized: str) -> str:
    """``text_hash`` of a text already normalised."""
    return hashlib.sha256(normalized.encode()).hexdigest()


def content_words(normalized: str) -> list[str]:
    """The words of a normalised text that carry meaning, in order, each once."""
    return list(dict.fromkeys(w for w in normalized.split() if w not in STOPWORDS))


def word_count(text: str) -> int:
    return len(normalize(text).split())
