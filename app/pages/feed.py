"""The Atom 1.0 feed of the latest verdicts, built with feedgen (lxml writes and escapes the
XML). No web framework: the router sends the bytes."""

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from app.pages.queries import FeedQuery
from app.pages.render import Site, as_datetime, rating_name
from app.tlog.models import CurrentCheckpoint

# Characters XML 1.0 cannot carry (lxml refuses them): a claim's text may hold them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# A feed with no entries is as old as this, so that its ETag stays put.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


# The transparency log's checkpoint, as an Atom extension element (RFC 4287 §6) in a namespace
# of its own: <tlog:checkpoint href="…/checkpoint.txt" key-href="…/checkpoint.key.txt"> with
# <tlog:tree-size>, <tlog:root-hash> (base64), <tlog:signed-note> (the C2SP signed note, as
# served at href) and <tlog:verifier-key>. Readers that do not know it ignore it.
TLOG_NS = "urn:claimtracker:transparency-log"
TLOG_PREFIX = "tlog"


class CheckpointExtension(BaseExtension):  # type: ignore[misc]
    """feedgen's extension hook: writes the checkpoint set on it into the feed element."""

    def __init__(self) -> None:
        self.checkpoint: CurrentCheckpoint | None = None
        self.site: Site | None = None

    def extend_ns(self) -> dict[str, str]:
        return {TLOG_PREFIX: TLOG_NS}

    def extend_atom(self, feed: Any) -> Any:
        checkpoint, site = self.checkpoint, self.site
        if checkpoint is None or site is None:
            return feed
        element = xml_elem(f"{{{TLOG_NS}}}checkpoint", feed)
        element.set("href", site.checkpoint_url)
        element.set("key-href", site.checkpoint_key_url)
        for name, value in (
            ("tree-size", str(checkpoint.tree_size)),
            ("root-hash", checkpoint.root_hash),
            ("signed-note", checkpoint.signed_note),
            ("verifier-key", checkpoint.verifier_key),
        ):
            xml_elem(f"{{{TLOG_NS}}}{name}", element).text = _xml_text(value)
        return feed


def atom_feed(
    claims: list[dict[str, Any]],
    query: FeedQuery,
    site: Site,
    checkpoint: CurrentCheckpoint | None = None,
) -> bytes:
    """``claims`` (newest verdict first, each with its ``speaker``) as an Atom feed whose
    id and self link carry ``query``'s filters; with the transparency log's ``checkpoint``
    (a link to its signed note and the extension element) when there is one."""
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
    if checkpoint is not None:
        feed.link(
            href=site.checkpoint_url,
            rel="related",
            type="text/plain",
            title="The transparency log's signed checkpoint",
        )
        feed.register_extension(TLOG_PREFIX, CheckpointExtension, atom=True, rss=False)
        extension: CheckpointExtension = getattr(feed, TLOG_PREFIX)
        extension.checkpoint, extension.site = checkpoint, site
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
