"""The public pages in a real browser: Debian's Chromium driven by Playwright, against a real
uvicorn server on a seeded database, on both backends.

The checks: the index lists the seeded fact-checks (all that are settled with a verdict, none
other); a click opens a page; its JSON-LD parses and is a ClaimReview of that claim; the
<html> and quote lang attributes; the correction notice appears after a verdict change made
through the API; the embed card renders inside an iframe of a page from another origin; an
unsettled claim gives the 404 page; the filter form works with JavaScript off.
"""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from app.schema.migrate import upgrade
from tests.conftest import drop_pg_database, fresh_database_url
from tests.pages.browser import chromium_path, pages_server
from tests.servers import Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    chromium_path()  # skip (or fail under CI) before building anything
    url = fresh_database_url(backend, tmp_path_factory.mktemp("pages"))
    upgrade(url)
    try:
        with pages_server(url) as running:
            yield running
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable))
        yield launched
        launched.close()


def api_claims(server: Server, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.base_url}/api/v1/claims",
        params={"limit": 200, **params},
        headers=server.headers,
    )
    response.raise_for_status()
    return list(response.json()["items"])


def published(server: Server) -> list[dict[str, Any]]:
    return [c for c in api_claims(server, review="settled") if c["status"] != "unverified"]


class TestIndexAndPage:
    def test_the_index_lists_the_seeded_fact_checks_and_a_click_opens_one(
        self, server: Server, browser: Browser
    ) -> None:
        expected = published(server)
        assert len(expected) >= 10  # the seeds settle many verdicts
        page = browser.new_page()
        page.goto(f"{server.base_url}/")
        cards = page.locator(".fact-checks h2 a")
        expect(cards).to_have_count(min(len(expected), 20))
        shown = set(cards.all_inner_texts())
        assert shown <= {claim["statement"] for claim in expected}
        newest = max(expected, key=lambda claim: (claim["reviewed_at"], claim["id"]))
        assert cards.first.inner_text() == newest["statement"]

        cards.first.click()
        page.wait_for_url(f"{server.base_url}/claims/{newest['id']}")
        expect(page.locator("h1")).to_have_text(newest["statement"])
        assert page.evaluate("document.documentElement.lang") == newest["language"]
        if newest["original_quote"]:
            quote = page.locator(".quote blockquote")
            assert quote.get_attribute("lang") == newest["original_language"]
        review = json.loads(page.locator('script[type="application/ld+json"]').text_content() or "")
        assert review["@context"] == "https://schema.org"
        assert review["@type"] == "ClaimReview"
        assert review["claimReviewed"] == newest["statement"]
        assert review["url"].endswith(f"/claims/{newest['id']}")
        page.close()

    def test_the_dutch_original_quotes_render_with_lang_nl(
        self, server: Server, browser: Browser
    ) -> None:
        dutch = next(c for c in published(server) if c["original_language"] == "nl")
        page = browser.new_page()
        page.goto(f"{server.base_url}/claims/{dutch['id']}")
        expect(page.locator('.quote blockquote[lang="nl"]')).to_have_text(dutch["original_quote"])
        page.close()

    def test_the_filter_form_works_with_javascript_off(
        self, server: Server, browser: Browser
    ) -> None:
        statuses = {claim["status"] for claim in published(server)}
        status = sorted(statuses)[0]
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(f"{server.base_url}/")
        page.select_option("#status", status)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: f"status={status}" in url)
        wanted = {c["statement"] for c in published(server) if c["status"] == status}
        assert set(page.locator(".fact-checks h2 a").all_inner_texts()) == wanted
        context.close()


class TestCorrection:
    def test_a_verdict_changed_through_the_api_shows_a_correction_notice(
        self, server: Server, browser: Browser
    ) -> None:
        page = browser.new_page()
        candidates = [c for c in published(server) if c["status"] != "mixed"]
        for claim in candidates:  # one without a correction yet
            page.goto(f"{server.base_url}/claims/{claim['id']}")
            if page.locator(".correction").count() == 0:
                break
        else:
            pytest.fail("every seeded fact-check already shows a correction")
        current = httpx.get(
            f"{server.base_url}/api/v1/claims/{claim['id']}", headers=server.headers
        )
        changed = httpx.post(
            f"{server.base_url}/api/v1/claims/{claim['id']}/status",
            headers={**server.headers, "If-Match": current.headers["etag"]},
            json={
                "status": "mixed",
                "verdict": "New satellite images show part of it is true.",
                "reason": "Satellite images from the following week",
            },
        )
        assert changed.status_code == 200, changed.text
        # A page changes once the revision enters the change feed. On PostgreSQL that waits
        # for every transaction of the cluster that began before it to end (the feed's
        # watermark): a moment under load, so reload until then.
        notice = page.locator(".correction")
        deadline = time.monotonic() + 15
        page.reload()
        while notice.count() == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            page.reload()
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("to Mixed")
        expect(notice).to_contain_text("Satellite images from the following week")
        expect(page.locator(".change-log li").first).to_contain_text("(correction)")
        expect(page.locator("body")).not_to_contain_text("browser test editor")
        page.close()


class TestEmbed:
    def test_the_card_renders_inside_an_iframe_of_another_origin(
        self, server: Server, browser: Browser, tmp_path: Path
    ) -> None:
        claim = published(server)[0]
        embed_url = f"{server.base_url}/embed/claims/{claim['id']}"
        article = (
            "<!doctype html><html lang=en><title>A newsroom's article</title>"
            f"<h1>Our story</h1><iframe src='{embed_url}' width=480 height=260></iframe>"
        ).encode()
        with _serve(article) as article_url:
            assert article_url.split("/")[2] != server.base_url.split("/")[2]
            page = browser.new_page()
            page.goto(article_url)
            card = page.frame_locator("iframe")
            expect(card.locator(".rating")).to_be_visible()
            expect(card.locator(".statement")).to_contain_text(claim["statement"][:40])
            link = card.locator(".more a")
            assert link.get_attribute("href", timeout=5000).endswith(f"/claims/{claim['id']}")
            page.close()


class TestNotPublic:
    def test_an_unsettled_claim_gives_the_404_page(self, server: Server, browser: Browser) -> None:
        unrated = api_claims(server, status="unverified")[0]
        page = browser.new_page()
        response = page.goto(f"{server.base_url}/claims/{unrated['id']}")
        assert response is not None
        assert response.status == 404
        expect(page.locator("h1")).to_have_text("No such fact-check")
        page.close()


class _Article(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


class _serve:
    """A page from another loopback origin (its own port): a newsroom's article."""

    def __init__(self, body: bytes) -> None:
        handler = type("Article", (_Article,), {"body": body})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/article.html"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()
