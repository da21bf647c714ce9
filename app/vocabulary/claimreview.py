"""schema.org ClaimReview in: JSON-LD (one object, an array, a @graph or a DataFeed) to import
records, mapping foreign ratings to our statuses and keeping the original rating in evidence.

Ratings are read by ``alternateName`` first (the table below, case and punctuation ignored),
then by ``ratingValue`` placed between ``worstRating`` and ``bestRating`` (default 1..5):

| position on the scale (0 worst, 1 best) | status        |
|-----------------------------------------|---------------|
| ≥ 0.875                                 | confirmed     |
| ≥ 0.625                                 | mostly_true   |
| ≥ 0.375                                 | mixed         |
| ≥ 0.125                                 | mostly_false  |
| below                                   | false         |

A rating neither names nor places is kept as given, so the record fails with the rating text.
"""

import re
from typing import Any

from app.vocabulary.enums import ClaimStatus

S = ClaimStatus
RATING_NAMES: dict[str, ClaimStatus] = {
    **dict.fromkeys(["true", "correct", "accurate", "confirmed", "verified"], S.confirmed),
    **dict.fromkeys(["mostly true", "mostly correct", "largely accurate"], S.mostly_true),
    **dict.fromkeys(
        ["mixed", "half true", "mixture", "partly true", "partially true", "partly false"],
        S.mixed,
    ),
    **dict.fromkeys(
        ["misleading", "missing context", "out of context", "cherry picks", "distorts the facts"],
        S.misleading,
    ),
    **dict.fromkeys(["mostly false", "barely true", "largely false"], S.mostly_false),
    **dict.fromkeys(
        ["false", "pants on fire", "pants fire", "incorrect", "fake", "wrong", "four pinocchios"],
        S.false,
    ),
    **dict.fromkeys(["unproven", "unverifiable", "unsupported", "no evidence"], S.unproven),
    **dict.fromkeys(["not checkable", "opinion", "satire", "no rating"], S.not_checkable),
}
_WORDS = re.compile(r"[^a-z0-9]+")


def _norm(text: str) -> str:
    return _WORDS.sub(" ", text.lower()).strip()


def _number(value: Any, default: float | None) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def status_of(rating: dict[str, Any]) -> str:
    name = rating.get("alternateName") or rating.get("name")
    if isinstance(name, str) and _norm(name) in RATING_NAMES:
        return str(RATING_NAMES[_norm(name)])
    value = _number(rating.get("ratingValue"), None)
    best = _number(rating.get("bestRating"), 5.0)
    worst = _number(rating.get("worstRating"), 1.0)
    if value is not None and best is not None and worst is not None and best != worst:
        position = (value - worst) / (best - worst)
        for floor, status in (
            (0.875, S.confirmed),
            (0.625, S.mostly_true),
            (0.375, S.mixed),
            (0.125, S.mostly_false),
        ):
            if position >= floor:
                return str(status)
        return str(S.false)
    return str(name or "no rating")


def rating_text(rating: dict[str, Any]) -> str:
    name = rating.get("alternateName") or rating.get("name")
    value = rating.get("ratingValue")
    parts = [str(name)] if name else []
    if value is not None:
        parts.append(f"({value} of {rating.get('worstRating', 1)}..{rating.get('bestRating', 5)})")
    return " ".join(parts) or "no rating given"


def _reviews(data: Any) -> list[Any]:
    """The reviews in an array, a @graph or a DataFeed, in order; a loop, not recursion, so
    no nesting can exhaust the stack."""
    reviews: list[Any] = []
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, list):
            pending.extend(reversed(value))
        elif isinstance(value, dict) and "@graph" in value:
            pending.append(value["@graph"])
        elif isinstance(value, dict) and "dataFeedElement" in value:
            pending.append(value["dataFeedElement"])
        elif isinstance(value, dict) and value.get("@type") == "DataFeedItem" and "item" in value:
            pending.append(value["item"])
        else:
            reviews.append(value)
    return reviews


def _name(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        name = value.get("name")
        return str(name) if name else None
    return str(value) if value else None


def _works(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value] if value else []
    return [w if isinstance(w, dict) else {"url": w} for w in items]


def _url_key(url: Any) -> str:
    """A hashable stand-in for a url (not every JSON value is): a non-string fails validation
    later, with the record named."""
    return url if isinstance(url, str) else repr(url)


def record_from_review(review: Any) -> Any:
    """An import record; anything not a ClaimReview is passed on to fail validation."""
    if not isinstance(review, dict) or review.get("@type") != "ClaimReview":
        return review
    item = review.get("itemReviewed") or {}
    rating = review.get("reviewRating") or {}
    reviewer = _name(review.get("author")) or "the reviewer"
    external_id = review.get("identifier") or review.get("url") or review.get("@id")
    status = status_of(rating) if isinstance(rating, dict) else "no rating"
    original = rating_text(rating) if isinstance(rating, dict) else str(rating)
    record: dict[str, Any] = {
        "external_id": external_id,
        "statement": review.get("claimReviewed"),
        "status": status,
        "verdict": review.get("reviewBody") or f"{reviewer} rated this {original}.",
        "evidence": [
            {
                "title": f"ClaimReview by {reviewer}",
                "stance": "context",
                "url": review.get("url") if str(review.get("url", "")).startswith("http") else None,
                "note": f"{reviewer} rated this {original}.",
            }
        ],
    }
    if review.get("inLanguage"):
        record["language"] = review["inLanguage"]
    if isinstance(item, dict):
        author = _name(item.get("author"))
        if author:
            record["speaker"] = {"name": author}
        if item.get("datePublished"):
            record["claimed_at"] = item["datePublished"]
        first_works = _works(item.get("firstAppearance"))
        first = {_url_key(w.get("url")) for w in first_works}
        # A set of the urls taken: linear, where comparing with every source taken was
        # quadratic (8,000 urls held the event loop for seconds).
        taken: set[str] = set()
        sources: list[dict[str, Any]] = []
        for work in _works(item.get("appearance")) + first_works:
            url = work.get("url")
            if not url or _url_key(url) in taken:
                continue
            taken.add(_url_key(url))
            sources.append(
                {
                    "url": url,
                    "title": work.get("name"),
                    "role": "origin" if _url_key(url) in first else "report",
                }
            )
        if sources:
            record["sources"] = sources
    if record["status"] == "unverified":
        record.pop("verdict")
    return record


def records_from_jsonld(data: Any) -> list[Any]:
    return [record_from_review(review) for review in _reviews(data)]
