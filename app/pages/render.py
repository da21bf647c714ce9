"""The public pages' HTML: Jinja2 templates (autoescaped) filled from ``app.pages.queries``'
results, and the oEmbed answer. No web framework: the router sends what these return."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from app.exports.claimreview import RATINGS, embeddable_json
from app.pages.queries import FactCheck, IndexPage, IndexQuery
from app.tlog.models import CurrentCheckpoint
from app.vocabulary.enums import ClaimStatus

# The embed's iframe: a card of about this size (oEmbed's width and height).
EMBED_WIDTH, EMBED_HEIGHT = 480, 260
FEED_PATH = "/feeds/fact-checks.atom"
STYLESHEET_PATH = "/pages/static/pages.css"
CHECKPOINT_PATH = "/checkpoint.txt"
CHECKPOINT_KEY_PATH = "/checkpoint.key.txt"
STANCES = {"supports": "Supports", "refutes": "Refutes", "context": "Context"}
_STATUSES = frozenset(status.value for status in ClaimStatus)
ROLES = {"origin": "Where it was said", "report": "Reported by", "repost": "Reposted"}


@dataclass(frozen=True, slots=True)
class Site:
    """Who publishes, and the absolute URL the pages are served at (no trailing slash)."""

    name: str
    url: str
    base_url: str
    stylesheet: str = STYLESHEET_PATH
    # How often the transparency log takes in new revisions (CLAIMS_TLOG_APPEND_SECONDS): the
    # checkpoint the pages show may trail the newest revision by that much.
    log_interval_seconds: float = 1.0

    def claim_url(self, claim_id: int) -> str:
        return f"{self.base_url}/claims/{claim_id}"

    def embed_url(self, claim_id: int) -> str:
        return f"{self.base_url}/embed/claims/{claim_id}"

    @property
    def feed_url(self) -> str:
        return self.base_url + FEED_PATH

    @property
    def checkpoint_url(self) -> str:
        return self.base_url + CHECKPOINT_PATH

    @property
    def checkpoint_key_url(self) -> str:
        return self.base_url + CHECKPOINT_KEY_PATH


def _rating(status: str) -> tuple[int | None, str] | None:
    return RATINGS.get(ClaimStatus(status)) if status in _STATUSES else None


def rating_name(status: str) -> str:
    """The rating as ClaimReview names it ("Mostly false"); unverified as itself."""
    rating = _rating(status)
    return rating[1] if rating else status.replace("_", " ")


def rating_class(status: str) -> str:
    """rating-1 .. rating-5 on the scale; rating-none for unproven and not checkable."""
    rating = _rating(status)
    return f"rating-{rating[0]}" if rating and rating[0] is not None else "rating-none"


def as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def day(value: Any) -> str:
    """A date as readers write it: 8 March 2023."""
    moment = as_datetime(value)
    return "" if moment is None else f"{moment.day} {moment:%B %Y}"


def iso_day(value: Any) -> str:
    moment = as_datetime(value)
    return "" if moment is None else moment.date().isoformat()


_env = Environment(
    loader=PackageLoader("app.pages", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
_env.filters.update(rating=rating_name, rating_class=rating_class, day=day, iso_day=iso_day)
_env.globals.update(
    STANCES=STANCES,
    ROLES=ROLES,
    FEED_PATH=FEED_PATH,
    CHECKPOINT_PATH=CHECKPOINT_PATH,
    CHECKPOINT_KEY_PATH=CHECKPOINT_KEY_PATH,
)


def _filters(query: IndexQuery) -> list[tuple[str, str]]:
    return [
        (key, str(value))
        for key, value in query.model_dump(exclude={"cursor"}).items()
        if value not in (None, "")
    ]


class IndexLinks:
    """The index's URLs with the request's filters and one changed (None drops it): the part
    before the value is built once per page and name, as a page of 20 links many speakers,
    outlets and topics."""

    def __init__(self, query: IndexQuery) -> None:
        self.filters = _filters(query)
        self._prefixes: dict[str, str] = {}

    def __call__(self, **changes: Any) -> str:
        if len(changes) == 1:
            ((name, value),) = changes.items()
            if value not in (None, ""):
                return self._prefix(name) + quote_plus(str(value))
        pairs = [(name, value) for name, value in self.filters if name not in changes]
        pairs += [(name, str(value)) for name, value in changes.items() if value not in (None, "")]
        return "/?" + urlencode(pairs) if pairs else "/"

    def _prefix(self, name: str) -> str:
        prefix = self._prefixes.get(name)
        if prefix is None:
            kept = urlencode([(key, value) for key, value in self.filters if key != name])
            prefix = self._prefixes[name] = f"/?{kept}&{name}=" if kept else f"/?{name}="
        return prefix


@dataclass(frozen=True, slots=True)
class Card:
    """One fact-check of the index, every value ready for the template (attribute reads of
    a slotted object are Jinja's fast path; a dict's keys go through a failed getattr)."""

    href: str
    statement: str
    language: str
    rating: str
    rating_class: str
    speaker: tuple[str, str] | None  # name, filter link
    outlet: tuple[str, str] | None
    claimed: tuple[str, str] | None  # ISO day, readable day
    reviewed: tuple[str, str] | None
    topics: list[tuple[str, str]]  # topic, filter link


def _card(claim: dict[str, Any], href: IndexLinks) -> Card:
    speaker, outlet = claim.get("speaker"), claim.get("outlet")
    claimed, reviewed = as_datetime(claim["claimed_at"]), as_datetime(claim["reviewed_at"])
    return Card(
        href=f"/claims/{claim['id']}",
        statement=claim["statement"],
        language=claim["language"],
        rating=rating_name(claim["status"]),
        rating_class=rating_class(claim["status"]),
        speaker=(speaker["name"], href(speaker_id=speaker["id"])) if speaker else None,
        outlet=(outlet["name"], href(outlet_id=outlet["id"])) if outlet else None,
        claimed=(claimed.date().isoformat(), day(claimed)) if claimed else None,
        reviewed=(claim["reviewed_at"], day(reviewed)) if reviewed else None,
        topics=[(topic, href(topic=topic)) for topic in claim["topics"]],
    )


def render_index(
    page: IndexPage, query: IndexQuery, site: Site, checkpoint: CurrentCheckpoint | None
) -> str:
    href = IndexLinks(query)
    return _env.get_template("index.html").render(
        site=site,
        checkpoint=checkpoint,
        page=page,
        cards=[_card(claim, href) for claim in page.claims],
        query=query,
        statuses=[s for s in ClaimStatus if s is not ClaimStatus.unverified],
        next_href=href(cursor=page.next_cursor) if page.next_cursor else None,
        first_href=href() if query.cursor else None,
        filtered=bool(href.filters),
        href=href,
    )


def _oembed_href(site: Site, claim_id: int) -> str:
    return f"{site.base_url}/oembed?" + urlencode(
        {"url": site.claim_url(claim_id), "format": "json"}
    )


def embed_iframe(site: Site, claim_id: int, width: int, height: int, title: str) -> Markup:
    return Markup(
        '<iframe src="{}" width="{}" height="{}" title="{}" loading="lazy" '
        'style="border:0;max-width:100%"></iframe>'
    ).format(site.embed_url(claim_id), width, height, title)


def render_fact_check(
    fact_check: FactCheck, site: Site, checkpoint: CurrentCheckpoint | None
) -> str:
    claim = fact_check.claim
    json_ld = Markup(embeddable_json(fact_check.claim_review).decode())  # noqa: S704 - escaped
    title = f"Fact-check: {claim['statement']}"
    return _env.get_template("claim.html").render(
        site=site,
        checkpoint=checkpoint,
        fc=fact_check,
        claim=claim,
        json_ld=json_ld,
        canonical=site.claim_url(claim["id"]),
        oembed_href=_oembed_href(site, claim["id"]),
        embed_code=str(embed_iframe(site, claim["id"], EMBED_WIDTH, EMBED_HEIGHT, title)),
        title=title,
    )


def render_embed(
    fact_check: FactCheck, site: Site, _checkpoint: CurrentCheckpoint | None = None
) -> str:
    """The card for an iframe: small, so without the checkpoint (its link leads to the page,
    which shows it)."""
    claim = fact_check.claim
    return _env.get_template("embed.html").render(
        site=site, claim=claim, speaker=fact_check.speaker, canonical=site.claim_url(claim["id"])
    )


def render_error(status: int, title: str, message: str, site: Site) -> str:
    return _env.get_template("error.html").render(
        site=site, checkpoint=None, status=status, title=title, message=message
    )


def oembed(
    fact_check: FactCheck, site: Site, *, maxwidth: int | None, maxheight: int | None
) -> dict[str, Any]:
    """The oEmbed 1.0 ``rich`` answer: the embed card's iframe, within maxwidth/maxheight."""
    claim = fact_check.claim
    width = min(EMBED_WIDTH, maxwidth) if maxwidth else EMBED_WIDTH
    height = min(EMBED_HEIGHT, maxheight) if maxheight else EMBED_HEIGHT
    title = f"Fact-check: {claim['statement']}"
    return {
        "version": "1.0",
        "type": "rich",
        "title": title,
        "provider_name": site.name,
        "provider_url": site.url,
        "html": str(embed_iframe(site, claim["id"], width, height, title)),
        "width": width,
        "height": height,
    }
