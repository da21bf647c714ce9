"""schema.org ClaimReview out: one claim as JSON-LD, and the DataFeed of many.

Ratings follow DESIGN.md: confirmed 5, mostly_true 4, mixed 3, misleading and mostly_false 2,
false 1 (worst 1, best 5); unproven and not_checkable carry only ``alternateName``; an
unverified claim has no ClaimReview.
"""

from typing import Any

import orjson

from app.vocabulary.enums import ClaimStatus

BEST, WORST = 5, 1
RATINGS: dict[ClaimStatus, tuple[int | None, str]] = {
    ClaimStatus.confirmed: (5, "True"),
    ClaimStatus.mostly_true: (4, "Mostly true"),
    ClaimStatus.mixed: (3, "Mixed"),
    ClaimStatus.misleading: (2, "Misleading"),
    ClaimStatus.mostly_false: (2, "Mostly false"),
    ClaimStatus.false: (1, "False"),
    ClaimStatus.unproven: (None, "Unproven"),
    ClaimStatus.not_checkable: (None, "Not checkable"),
}
CONTEXT = "https://schema.org"
# JSON-LD is embedded in HTML as <script type="application/ld+json">: a "</script>" or "<!--"
# inside a string would end or break the element, so these characters are written as escapes
# (the JSON still parses to the same text). U+2028/U+2029 end lines in older JavaScript.
_HTML_UNSAFE = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def embeddable_json(value: Any) -> bytes:
    """``value`` as JSON that is safe inside an HTML script element. Outside strings JSON has
    none of these characters, so replacing the bytes only ever rewrites string contents."""
    data = orjson.dumps(value)
    for raw, escaped in _HTML_UNSAFE:
        data = data.replace(raw, escaped)
    return data


def rating(status: ClaimStatus) -> dict[str, Any]:
    value, name = RATINGS[status]
    result: dict[str, Any] = {"@type": "Rating", "alternateName": name}
    if value is not None:
        result.update(ratingValue=value, bestRating=BEST, worstRating=WORST)
    return result


def claim_review(
    claim: dict[str, Any],
    *,
    speaker: dict[str, Any] | None,
    appearances: list[dict[str, Any]],
    organization: dict[str, str],
    url: str,
    with_context: bool = True,
) -> dict[str, Any] | None:
    """``claim`` as JSON-ready values (timestamps as ISO text); None when it is unverified."""
    status = ClaimStatus(claim["status"])
    if status is ClaimStatus.unverified:
        return None
    item: dict[str, Any] = {"@type": "Claim"}
    if speaker is not None:
        kind = "Person" if speaker.get("kind") == "person" else "Organization"
        item["author"] = {"@type": kind, "name": speaker["name"]}
        if speaker.get("role"):
            item["author"]["jobTitle"] = speaker["role"]
    if claim.get("claimed_at"):
        item["datePublished"] = claim["claimed_at"]
    works = [
        {"@type": "CreativeWork", "url": a["url"], **({"name": a["title"]} if a["title"] else {})}
        for a in appearances
        if a.get("url")
    ]
    if works:
        item["appearance"] = works
        origin = [
            w
            for w, a in zip(works, [a for a in appearances if a.get("url")], strict=True)
            if a.get("role") == "origin"
        ]
        item["firstAppearance"] = origin[0] if origin else works[0]
    review: dict[str, Any] = {
        "@type": "ClaimReview",
        "url": url,
        "claimReviewed": claim["statement"],
        "author": {"@type": "Organization", **organization},
        "reviewRating": rating(status),
        "itemReviewed": item,
    }
    if with_context:
        review = {"@context": CONTEXT, **review}
    if claim.get("external_id"):
        review["identifier"] = claim["external_id"]
    if claim.get("reviewed_at"):
        review["datePublished"] = str(claim["reviewed_at"])[:10]
    if claim.get("verdict"):
        review["reviewBody"] = claim["verdict"]
    if claim.get("language"):
        review["inLanguage"] = claim["language"]
    return review
