"""The public pages over HTTP, without a browser: every route, its HTML, its errors and its
caching headers, on both backends."""

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import feedparser
import lxml.html
import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.claims import service as claims_service
from app.claims.models import StatusChange
from app.tracked.versions import NO_PRECONDITION
from tests import factories
from tests.conftest import MakeClient
from tests.pages.conftest import BASE_URL, Publish, change_verdict


def html(response: Any) -> Any:
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return lxml.html.fromstring(response.text)


def listed_ids(response: Any) -> list[int]:
    doc = html(response)
    return [int(a.get("href").rsplit("/", 1)[1]) for a in doc.cssselect(".fact-checks h2 a")]


def json_ld(response: Any) -> Any:
    scripts = html(response).cssselect('script[type="application/ld+json"]')
    assert len(scripts) == 1
    return json.loads(scripts[0].text)


class TestMounting:
    def test_the_pages_are_off_unless_the_setting_turns_them_on(
        self, make_client: MakeClient, publish: Publish
    ) -> None:
        claim = publish()
        client = make_client(None)
        for path in ("/", f"/claims/{claim.id}", "/feeds/fact-checks.atom", "/oembed"):
            response = client.get(path)
            assert response.status_code == 404
            assert response.headers["content-type"] == "application/problem+json"

    def test_the_api_keeps_problem_json_and_no_public_caching(
        self, pages: TestClient, make_client: MakeClient, publish: Publish
    ) -> None:
        claim = publish()
        missing = pages.get("/api/v1/claims/999999")
        assert missing.status_code in (401, 404)
        assert missing.headers["content-type"] == "application/problem+json"
        reader = make_client("reader", public_pages=True)
        found = reader.get(f"/api/v1/claims/{claim.id}")
        assert found.status_code == 200
        assert found.headers["cache-control"] == "no-store"


class TestIndex:
    def test_lists_only_published_fact_checks_newest_verdict_first(
        self, pages: TestClient, publish: Publish, session: Session
    ) -> None:
        older = publish(statement="Older verdict.")
        unrated = factories.claim(session, statement="Not rated yet.")
        newer = publish(statement="Newer verdict.")
        response = pages.get("/")
        assert response.status_code == 200
        assert listed_ids(response) == [newer.id, older.id]
        assert unrated.id not in listed_ids(response)
        # A reopened review takes the fact-check off the public pages until it is settled again.
        claims_service.set_status(
            session,
            older.id,
            StatusChange(review="in_review", reason="Re-checking the footage"),
            expect=NO_PRECONDITION,
            actor=factories.ACTOR,
        )
        assert listed_ids(pages.get("/")) == [newer.id]

    def test_a_later_verdict_moves_a_fact_check_to_the_top(
        self, pages: TestClient, publish: Publish, session: Session
    ) -> None:
        first = publish(statement="First.")
        second = publish(statement="Second.")
        change_verdict(session, first.id, "mostly_false", "Partly staged.", "New footage")
        assert listed_ids(pages.get("/")) == [first.id, second.id]

    def test_pages_follow_the_next_link_without_gaps_or_repeats(
        self, make_client: MakeClient, publish: Publish
    ) -> None:
        client = make_client(None, public_pages=True, pages_page_size=2)
        made = [publish(statement=f"Claim number {n}.").id for n in range(5)]
        seen: list[int] = []
        path = "/"
        while True:
            response = client.get(path)
            seen += listed_ids(response)
            following = html(response).cssselect('.pager a[rel="next"]')
            if not following:
                break
            path = following[0].get("href")
            assert "cursor=" in path
        assert seen == list(reversed(made))

    def test_filters_by_status_speaker_outlet_topic_and_search(
        self, pages: TestClient, publish: Publish, session: Session
    ) -> None:
        speaker = factories.speaker(session, name="Sergei Shoigu", aliases=[])
        outlet = factories.outlet(session, name="RIA Novosti", domain="ria.ru")
        by_speaker = publish(
            statement="Kherson is held.", speaker_id=speaker.id, topics=["kherson"]
        )
        in_outlet = publish(statement="A bridge fell.", outlet_id=outlet.id, status="unproven")
        other = publish(statement="Depot destroyed by helicopters.", topics=["belgorod"])
        assert listed_ids(pages.get("/", params={"speaker_id": speaker.id})) == [by_speaker.id]
        assert listed_ids(pages.get("/", params={"outlet_id": outlet.id})) == [in_outlet.id]
        assert listed_ids(pages.get("/", params={"status": "unproven"})) == [in_outlet.id]
        assert listed_ids(pages.get("/", params={"topic": "Belgorod"})) == [other.id]
        assert listed_ids(pages.get("/", params={"q": "helicopters"})) == [other.id]
        # The form's "any" choices arrive empty: they filter nothing.
        assert len(listed_ids(pages.get("/?status=&q=&topic="))) == 3
        # A search without a word searches nothing, on both backends.
        assert len(listed_ids(pages.get('/?q="" "'))) == 3
        named = html(pages.get("/", params={"speaker_id": speaker.id}))
        assert "Sergei Shoigu" in named.cssselect(".active-filters")[0].text_content()

    @pytest.mark.parametrize(
        "query",
        ["status=bogus", "speaker_id=abc", "speaker_id=0", "cursor=not-a-cursor", "q=" + "w" * 501],
    )
    def test_a_bad_filter_answers_a_400_page(self, pages: TestClient, query: str) -> None:
        response = pages.get(f"/?{query}")
        assert response.status_code == 400
        assert html(response).cssselect("h1")[0].text_content()

    def test_links_the_feed_and_the_stylesheet(self, pages: TestClient) -> None:
        doc = html(pages.get("/"))
        assert doc.get("lang") == "en"
        feed = doc.cssselect('link[type="application/atom+xml"]')[0]
        assert feed.get("href") == f"{BASE_URL}/feeds/fact-checks.atom"
        sheet = doc.cssselect('link[rel="stylesheet"]')[0].get("href")
        css = pages.get(sheet)
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert pages.get(sheet, headers={"If-None-Match": css.headers["etag"]}).status_code == 304


class TestFactCheckPage:
    def test_shows_the_claim_its_verdict_evidence_and_appearances(
        self, pages: TestClient, publish: Publish, session: Session
    ) -> None:
        speaker = factories.speaker(session)
        source = factories.source(session)
        claim = publish(speaker_id=speaker.id, verdict="Satellite images show otherwise.")
        claims_parts_add_appearance(session, claim.id, source.id)
        response = pages.get(f"/claims/{claim.id}")
        assert response.status_code == 200
        doc = html(response)
        assert doc.get("lang") == "en"
        assert doc.cssselect("h1")[0].text_content() == claim.statement
        quote = doc.cssselect(".quote blockquote")[0]
        assert quote.get("lang") == "nl"
        assert "Bachmoetka" in quote.text_content()
        text = doc.text_content()
        for expected in (
            "Yevgeny Prigozhin",
            "Founder of the Wagner Group",
            "a Telegram post",
            "Bakhmut, Ukraine",
            "8 March 2023",
            "Satellite images show otherwise.",
            "Reuters could not verify the claim",
            "Wagner says it controls eastern Bakhmut",
        ):
            assert expected in text
        assert doc.cssselect(".rating")[0].text_content() == "False"
        assert doc.cssselect(".stance-refutes")

    def test_carries_claimreview_canonical_open_graph_and_oembed_discovery(
        self, pages: TestClient, publish: Publish
    ) -> None:
        claim = publish()
        response = pages.get(f"/claims/{claim.id}")
        doc = html(response)
        page_url = f"{BASE_URL}/claims/{claim.id}"
        review = json_ld(response)
        assert review["@type"] == "ClaimReview"
        assert review["url"] == page_url
        assert review["claimReviewed"] == claim.statement
        assert review["reviewRating"]["ratingValue"] == 1
        assert doc.cssselect('link[rel="canonical"]')[0].get("href") == page_url
        assert doc.cssselect('meta[property="og:url"]')[0].get("content") == page_url
        assert doc.cssselect('meta[property="og:type"]')[0].get("content") == "article"
        assert claim.statement in doc.cssselect('meta[property="og:title"]')[0].get("content")
        oembed = doc.cssselect('link[type="application/json+oembed"]')[0].get("href")
        assert parse_qs(urlsplit(oembed).query) == {"url": [page_url], "format": ["json"]}
        assert doc.cssselect('link[type="application/atom+xml"]')

    def test_a_statement_with_script_tags_stays_text(
        self, pages: TestClient, publish: Publish
    ) -> None:
        evil = 'Ends early </script><script>alert("x")</script> & <!-- here'
        claim = publish(statement=evil, verdict="</script><img src=x onerror=alert(1)>")
        response = pages.get(f"/claims/{claim.id}")
        assert "<script>alert" not in response.text
        assert "<img src=x" not in response.text
        assert response.text.count("<script") == 1  # the JSON-LD only
        review = json_ld(response)
        assert review["claimReviewed"] == evil
        assert html(response).cssselect("h1")[0].text_content() == evil
        listed = pages.get("/")
        assert "<script>alert" not in listed.text
        embed = pages.get(f"/embed/claims/{claim.id}")
        assert "<script>alert" not in embed.text

    def test_the_change_log_shows_dates_and_reasons_and_never_who(
        self, pages: TestClient, publish: Publish, session: Session
    ) -> None:
        claim = publish(status="unproven", verdict="Not enough to go on.")
        doc = html(pages.get(f"/claims/{claim.id}"))
        assert not doc.cssselect(".correction")
        entries = doc.cssselect(".change-log li")
        assert len(entries) == 1
        assert "rated Unproven" in entries[0].text_content()
        assert "Evidence reviewed" in entries[0].text_content()
        assert factories.ACTOR.name not in doc.text_content()

    def test_a_verdict_changed_after_publication_shows_a_correction(
        self, pages: TestClient, make_client: MakeClient, publish: Publish, session: Session
    ) -> None:
        claim = publish(status="unproven", verdict="Not enough to go on.")
        first = pages.get(f"/claims/{claim.id}")
        change_verdict(
            session, claim.id, "false", "The video is from 2019.", "Geolocated the video"
        )
        response = pages.get(
            f"/claims/{claim.id}", headers={"If-None-Match": first.headers["etag"]}
        )
        assert response.status_code == 200  # the page changed: its ETag did too
        doc = html(response)
        notice = doc.cssselect(".correction")[0].text_content()
        assert "from Unproven to False" in notice
        assert "Geolocated the video" in notice
        log = [li.text_content() for li in doc.cssselect(".change-log li")]
        assert len(log) == 2
        assert "(correction)" in log[0]
        assert "(correction)" not in log[1]
        assert factories.ACTOR.name not in doc.text_content()
        assert json_ld(response)["reviewRating"]["alternateName"] == "False"

    def test_a_new_rationale_alone_is_a_correction_too(
        self, pages: TestClient, publish: Publish, session: Session
    ) -> None:
        claim = publish(status="false", verdict="Staged.")
        change_verdict(session, claim.id, "false", "Staged, and dated wrongly.", "Added the date")
        notice = html(pages.get(f"/claims/{claim.id}")).cssselect(".correction")[0]
        assert "revised this fact-check's rationale" in notice.text_content()


class TestNotPublic:
    def test_an_unsettled_or_unknown_claim_answers_the_404_page(
        self, pages: TestClient, session: Session
    ) -> None:
        unrated = factories.claim(session)
        for path in (
            f"/claims/{unrated.id}",
            "/claims/999999",
            "/claims/abc",
            "/claims/99999999999",
        ):
            response = pages.get(path)
            assert response.status_code == 404, path
            assert "No such fact-check" in html(response).cssselect("h1")[0].text_content()
        assert pages.get(f"/embed/claims/{unrated.id}").status_code == 404

    def test_a_deleted_fact_check_answers_410(
        self, pages: TestClient, publish: Publish, session: Session
    ) -> None:
        claim = publish()
        claims_service.CLAIMS.delete(
            session, claim.id, expect=NO_PRECONDITION, actor=factories.ACTOR, reason="Duplicate"
        )
        response = pages.get(f"/claims/{claim.id}")
        assert response.status_code == 410
        assert "withdrawn" in html(response).text_content()
        assert pages.get(f"/embed/claims/{claim.id}").status_code == 410
        assert claim.id not in listed_ids(pages.get("/"))


class TestCaching:
    def test_pages_carry_an_etag_and_answer_304(self, pages: TestClient, publish: Publish) -> None:
        claim = publish()
        for path in (
            "/",
            f"/claims/{claim.id}",
            f"/embed/claims/{claim.id}",
            "/feeds/fact-checks.atom",
        ):
            response = pages.get(path)
            assert response.headers["cache-control"] == "public, max-age=60", path
            etag = response.headers["etag"]
            assert pages.get(path).headers["etag"] == etag
            again = pages.get(path, headers={"If-None-Match": f'"other", {etag}'})
            assert again.status_code == 304, path
            assert again.content == b""
            assert again.headers["etag"] == etag

    def test_max_age_comes_from_the_setting(self, make_client: MakeClient) -> None:
        client = make_client(None, public_pages=True, pages_max_age_seconds=300)
        assert client.get("/").headers["cache-control"] == "public, max-age=300"


class TestEmbed:
    def test_the_card_may_be_framed_as_the_setting_says(
        self, make_client: MakeClient, publish: Publish
    ) -> None:
        claim = publish()
        client = make_client(
            None, public_pages=True, pages_frame_ancestors="https://news.example.com"
        )
        response = client.get(f"/embed/claims/{claim.id}")
        assert response.status_code == 200
        assert (
            "frame-ancestors https://news.example.com"
            in response.headers["content-security-policy"]
        )
        doc = html(response)
        assert doc.cssselect(".rating")[0].text_content() == "False"
        assert claim.statement in doc.cssselect(".statement")[0].text_content()
        assert doc.cssselect(".more a")[0].get("href").endswith(f"/claims/{claim.id}")
        page = client.get(f"/claims/{claim.id}")
        assert "frame-ancestors 'self'" in page.headers["content-security-policy"]


class TestOembed:
    def test_answers_the_rich_type_with_the_iframe(
        self, pages: TestClient, publish: Publish
    ) -> None:
        claim = publish()
        url = f"{BASE_URL}/claims/{claim.id}"
        response = pages.get("/oembed", params={"url": url, "format": "json", "maxwidth": 300})
        assert response.status_code == 200
        body = response.json()
        assert body["version"] == "1.0"
        assert body["type"] == "rich"
        assert body["width"] == 300
        assert f'src="{BASE_URL}/embed/claims/{claim.id}"' in body["html"]
        assert body["html"].startswith("<iframe")
        assert pages.get("/oembed", params={"url": url}).status_code == 200  # json by default

    @pytest.mark.parametrize(
        ("params", "status"),
        [
            ({"format": "xml"}, 501),
            ({"url": "https://elsewhere.example/claims/1"}, 404),
            ({"url": f"{BASE_URL}/claims/999999"}, 404),
            ({"url": f"{BASE_URL}/about"}, 404),
            ({}, 400),
            ({"maxwidth": "-3"}, 400),
        ],
    )
    def test_refuses_what_the_spec_says(
        self, pages: TestClient, publish: Publish, params: dict[str, str], status: int
    ) -> None:
        claim = publish()
        query = {"url": f"{BASE_URL}/claims/{claim.id}", **params} if params != {} else {}
        response = pages.get("/oembed", params=query)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"


class TestAtomFeed:
    def test_is_valid_atom_of_the_latest_verdicts(
        self, pages: TestClient, publish: Publish, session: Session
    ) -> None:
        older = publish(statement="Older & <wiser>.")
        newer = publish(statement="Newer.", status="unproven")
        factories.claim(session, statement="Unrated.")
        response = pages.get("/feeds/fact-checks.atom")
        assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
        parsed = feedparser.parse(response.content)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.version == "atom10"
        assert [entry.link for entry in parsed.entries] == [
            f"{BASE_URL}/claims/{newer.id}",
            f"{BASE_URL}/claims/{older.id}",
        ]
        assert parsed.entries[1].title == "False: Older & <wiser>."
        assert "The footage is from 2019." in parsed.entries[1].summary

    def test_filters_by_speaker_topic_and_status(
        self, pages: TestClient, publish: Publish, session: Session
    ) -> None:
        speaker = factories.speaker(session, name="Dmitry Peskov", aliases=[])
        said = publish(speaker_id=speaker.id, topics=["kremlin"])
        publish(status="unproven", topics=["other"])

        def links(**params: Any) -> list[str]:
            parsed = feedparser.parse(pages.get("/feeds/fact-checks.atom", params=params).content)
            assert not parsed.bozo
            return [entry.link for entry in parsed.entries]

        expected = [f"{BASE_URL}/claims/{said.id}"]
        assert links(speaker_id=speaker.id) == expected
        assert links(topic="kremlin") == expected
        assert links(status="false") == expected
        assert len(links()) == 2

    @pytest.mark.parametrize("query", ["status=bogus", "speaker_id=x", "topic=" + "t" * 65])
    def test_a_bad_filter_is_a_400_problem(self, pages: TestClient, query: str) -> None:
        response = pages.get(f"/feeds/fact-checks.atom?{query}")
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"]

    def test_text_xml_cannot_carry_is_replaced(self, pages: TestClient, publish: Publish) -> None:
        publish(statement="Bell\x07 and vertical\x0b tab.")
        parsed = feedparser.parse(pages.get("/feeds/fact-checks.atom").content)
        assert not parsed.bozo
        assert parsed.entries[0].title == "False: Bell\ufffd and vertical\ufffd tab."


def claims_parts_add_appearance(session: Session, claim_id: int, source_id: int) -> None:
    from app.claims import parts
    from app.claims.models import AppearanceCreate

    parts.add_appearance(
        session,
        claim_id,
        AppearanceCreate(source_id=source_id, role="report"),
        expect=NO_PRECONDITION,
        actor=factories.ACTOR,
    )


class TestSiteUrls:
    def test_absolute_urls_come_from_the_setting_or_the_listening_address(self) -> None:
        from app.core.settings import Settings
        from app.pages.router import site_of

        assert (
            site_of(Settings(public_base_url="https://c.example/")).base_url == "https://c.example"
        )
        assert site_of(Settings(host="127.0.0.1", port=8001)).base_url == "http://127.0.0.1:8001"
        # The Docker image listens on every address: links go to loopback, not to 0.0.0.0.
        assert site_of(Settings(host="0.0.0.0", port=8000)).base_url == "http://127.0.0.1:8000"
