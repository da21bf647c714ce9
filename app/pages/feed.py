"""The Atom 1.0 feed of the latest verdicts, built with feedgen (lxml writes and escapes the
XML). No web framework: the router sends the bytes."""

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from feedgen.feed import FeedGenerator

from app.pages.queries import FeedQuery
from app.pages.render import Site, as_datetime, rating_name

# Characters XML 1.0 cannot carry (lxml refuses them): a claim's text may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# A feed with no entries is as old as this, so that its ETag stays put.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def atom_feed(claims: list[dict[str, Any]], query: FeedQuery, site: Site) -> bytes:
    """``claims`` (newest verdict first, each with its ``speaker``) as an Atom feed whose
    id and self link carry ``query``'s filters."""
    filters = urlencode(
        [(key, str(value)) for key, value in query.model_dump().items() if value is not None]
    )
    self_url = site.feed_url + (f"?{filters}" if filters else "")
    feed = FeedGenerator()
    feed.id(self_url)
    feed.title(_xml_text(f"{site.name}: fact-checks"))
    feed.subtitle("The latest verdicts, with their corrections in plain view.")
    feed.author({"name": _xml_text(site.name), "uri": site.url})
    feed.link(href=self_url, rel="self", type="application/atom+xml")
    feed.link(href=site.base_url + "/", rel="alternate", type="text/html")
    feed.language("en")
    updated = [as_datetime(claim["reviewed_at"]) or _EPOCH for claim in claims]
    feed.updated(max(updated, default=_EPOCH))
    for claim, reviewed_at in zip(claims, updated, strict=True):
        entry = feed.add_entry(order="append")
        url = site.claim_url(claim["id"])
        entry.id(url)
        entry.title(_xml_text(f"{rating_name(claim['status'])}: {claim['statement']}"))
        entry.link(href=url, rel="alternate", type="text/html")
        entry.updated(reviewed_at)
        entry.published(reviewed_at)
        speaker = claim.get("speaker")
        said_by = f"Said by {speaker['name']}. " if speaker else ""
        entry.summary(_xml_text(said_by + (claim.get("verdict") or "")))
        for topic in claim["topics"]:
            entry.category(term=_xml_text(topic))
    data: bytes = feed.atom_str(pretty=False)
    return data
