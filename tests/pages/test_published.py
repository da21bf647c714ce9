"""The public pages' follow-up, without a browser, on SQLite and PostgreSQL: the transparency
log's checkpoint published on the pages, in the feed and as text; the per-process cache of
rendered pages (reused, and dropped by the next commit); HEAD."""

import base64
import hashlib
from pathlib import Path
from typing import Any

import feedparser
import lxml.etree
import lxml.html
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.testclient import TestClient

from app.core.metrics import PAGES_CACHE
from app.pages.cache import Body, Marker, PageCache
from app.pages.feed import TLOG_NS
from tests.conftest import MakeClient
from tests.pages.conftest import BASE_URL, Publish

API = "/api/v1"
# The test key's name (tests/conftest.py); the base URL would otherwise name the log.
ORIGIN = "claimtracker/history"


@pytest.fixture
def pages(make_client: MakeClient) -> TestClient:
    """An anonymous reader's client of an app with the pages on and a signing key."""
    return make_client(None, public_pages=True, public_base_url=BASE_URL, checkpoint_origin=ORIGIN)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    """An admin's client of the API, naming the log as the pages do."""
    return make_client(checkpoint_origin=ORIGIN)


def api_checkpoint(client: TestClient) -> str:
    """The API's checkpoint (it appends what the log lacks first)."""
    response = client.get(f"{API}/history/checkpoint")
    assert response.status_code == 200, response.text
    return response.text


def open_note(note: str, verifier_key: str) -> tuple[int, str]:
    """Check a C2SP signed note's Ed25519 signature with the note verifier key, written here
    from the specs (c2sp.org/signed-note, golang.org/x/mod/sumdb/note) with cryptography;
    returns the checkpoint's (tree size, base64 root)."""
    name, hash_hex, encoded = verifier_key.strip().split("+", 2)
    raw = base64.b64decode(encoded)
    assert raw[0] == 0x01  # Ed25519
    assert hashlib.sha256(f"{name}\n".encode() + raw).digest()[:4].hex() == hash_hex
    text, _, signatures = note.partition("\n\n")
    lines = [line for line in signatures.split("\n") if line]
    assert len(lines) == 1
    dash, signer, signature_b64 = lines[0].split(" ")
    assert dash == "\u2014"
    assert signer == name
    signature = base64.b64decode(signature_b64)
    assert signature[:4].hex() == hash_hex
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(signature[4:], (text + "\n").encode())
    _origin, size, root = text.split("\n")
    return int(size), root


def footer(response: Any) -> dict[str, str] | None:
    doc = lxml.html.fromstring(response.text)
    found = doc.cssselect("footer .checkpoint")
    if not found:
        return None
    section = found[0]
    return {
        "tree_size": section.cssselect(".tree-size")[0].text_content(),
        "root_hash": section.cssselect(".root-hash")[0].text_content(),
        "note": section.cssselect(".signed-note")[0].text_content(),
        "key": section.cssselect(".verifier-key")[0].text_content(),
        "links": " ".join(a.get("href") for a in section.cssselect("a")),
    }


def feed_checkpoint(response: Any) -> dict[str, str] | None:
    assert not feedparser.parse(response.content).bozo
    root = lxml.etree.fromstring(response.content)
    element = root.find(f"{{{TLOG_NS}}}checkpoint")
    if element is None:
        return None
    values = {child.tag.split("}")[1]: child.text for child in element}
    return {**values, "href": element.get("href"), "key-href": element.get("key-href")}


class TestCheckpoint:
    def test_the_pages_show_the_apis_checkpoint_and_it_verifies(
        self, pages: TestClient, client: TestClient, publish: Publish
    ) -> None:
        claim = publish()
        note = api_checkpoint(client)
        key = client.get(f"{API}/history/checkpoint/key").text
        size, root = open_note(note, key)
        assert size >= 3  # the claim, its evidence, its rating
        for path in ("/", f"/claims/{claim.id}"):
            shown = footer(pages.get(path))
            assert shown is not None, path
            assert shown["note"] == note
            assert shown["key"] == key.strip()
            assert (int(shown["tree_size"]), shown["root_hash"]) == (size, root)
            assert open_note(shown["note"], shown["key"]) == (size, root)
            assert "/checkpoint.txt" in shown["links"]
            assert "/checkpoint.key.txt" in shown["links"]
        # The text routes serve the same note and key, for anyone to keep.
        text = pages.get("/checkpoint.txt")
        assert text.headers["content-type"] == "text/plain; charset=utf-8"
        assert text.text == note
        assert pages.get("/checkpoint.key.txt").text == key
        assert "public" in text.headers["cache-control"]

    def test_the_feed_carries_it_in_its_own_namespace(
        self, pages: TestClient, client: TestClient, publish: Publish
    ) -> None:
        publish()
        note = api_checkpoint(client)
        key = client.get(f"{API}/history/checkpoint/key").text
        response = pages.get("/feeds/fact-checks.atom")
        shown = feed_checkpoint(response)
        assert shown is not None
        assert shown["signed-note"] == note
        assert shown["verifier-key"] == key.strip()
        assert open_note(shown["signed-note"], key) == (
            int(shown["tree-size"]),
            shown["root-hash"],
        )
        assert shown["href"] == f"{BASE_URL}/checkpoint.txt"
        assert shown["key-href"] == f"{BASE_URL}/checkpoint.key.txt"
        links = feedparser.parse(response.content).feed.links
        related = [link for link in links if link.rel == "related"]
        assert [(link.href, link.type) for link in related] == [
            (f"{BASE_URL}/checkpoint.txt", "text/plain")
        ]

    def test_a_grown_log_shows_its_new_checkpoint(
        self, pages: TestClient, client: TestClient, publish: Publish
    ) -> None:
        publish()
        first = open_note(api_checkpoint(client), client.get(f"{API}/history/checkpoint/key").text)
        assert footer(pages.get("/")) is not None
        publish(statement="Another verdict.")
        second_note = api_checkpoint(client)  # the log takes in the new revisions
        second = open_note(second_note, client.get(f"{API}/history/checkpoint/key").text)
        assert second[0] > first[0]
        shown = footer(pages.get("/"))
        assert shown is not None
        assert (int(shown["tree_size"]), shown["root_hash"]) == second
        assert pages.get("/checkpoint.txt").text == second_note

    def test_without_a_key_nothing_is_shown_and_the_text_routes_are_404(
        self, make_client: MakeClient, publish: Publish, tmp_path: Path
    ) -> None:
        claim = publish()
        pages = make_client(
            None,
            public_pages=True,
            public_base_url=BASE_URL,
            checkpoint_origin=ORIGIN,
            checkpoint_key_file=str(tmp_path / "none.key"),
        )
        for path in ("/", f"/claims/{claim.id}"):
            response = pages.get(path)
            assert response.status_code == 200
            assert footer(response) is None
        feed = pages.get("/feeds/fact-checks.atom")
        assert feed.status_code == 200
        assert feed_checkpoint(feed) is None
        for path in ("/checkpoint.txt", "/checkpoint.key.txt"):
            missing = pages.get(path)
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"


def counted(result: str) -> float:
    value: float = PAGES_CACHE.labels(result)._value.get()
    return value


class TestCache:
    def test_a_page_is_rendered_once_until_something_commits(
        self, pages: TestClient, publish: Publish
    ) -> None:
        claim = publish()
        paths = ("/", "/?topic=health", f"/claims/{claim.id}", f"/embed/claims/{claim.id}")
        paths += ("/feeds/fact-checks.atom", f"/oembed?url={BASE_URL}/claims/{claim.id}")
        first = {path: pages.get(path) for path in paths}
        hits = counted("hit")
        again = {path: pages.get(path) for path in paths}
        assert counted("hit") - hits == len(paths)
        for path in paths:
            assert again[path].status_code == 200
            assert again[path].content == first[path].content
            assert again[path].headers["etag"] == first[path].headers["etag"]
            assert again[path].headers["cache-control"] == first[path].headers["cache-control"]
            revalidated = pages.get(path, headers={"If-None-Match": first[path].headers["etag"]})
            assert revalidated.status_code == 304

    def test_a_change_through_the_api_shows_on_the_next_request(
        self, pages: TestClient, client: TestClient, publish: Publish
    ) -> None:
        claim = publish(status="unproven", verdict="Not enough to go on.")
        paths = ("/", f"/claims/{claim.id}", f"/embed/claims/{claim.id}")
        paths += ("/feeds/fact-checks.atom",)
        before = {path: pages.get(path) for path in paths}
        for path in paths:  # kept
            assert pages.get(path).headers["etag"] == before[path].headers["etag"]
        current = client.get(f"{API}/claims/{claim.id}")
        changed = client.post(
            f"{API}/claims/{claim.id}/status",
            headers={"If-Match": current.headers["etag"]},
            json={"status": "mostly_false", "verdict": "The video is from 2019.", "reason": "Geo"},
        )
        assert changed.status_code == 200, changed.text
        after = {path: pages.get(path) for path in paths}
        for path in paths:
            assert after[path].headers["etag"] != before[path].headers["etag"], path
            assert "Mostly false" in after[path].text, path
        page = lxml.html.fromstring(after[f"/claims/{claim.id}"].text)
        assert "from Unproven to Mostly false" in page.cssselect(".correction")[0].text_content()
        # A fact-check taken off the pages is gone from them at once too.
        deleted = client.delete(
            f"{API}/claims/{claim.id}",
            params={"reason": "Published by mistake"},
            headers={"If-Match": changed.headers["etag"]},
        )
        assert deleted.status_code in (200, 204), deleted.text
        assert pages.get(f"/claims/{claim.id}").status_code == 410
        assert f"/claims/{claim.id}" not in pages.get("/").text


class TestPageCacheBounds:
    def test_it_keeps_the_most_recently_used_within_its_size(self) -> None:
        cache = PageCache(max_bytes=800)
        marker = Marker(0, 1, 1)
        assert cache.get(marker, "a") is None
        for key in ("a", "b", "c", "d"):
            cache.put(marker, key, Body(b"x" * 100, key))
        assert cache.get(marker, "a") is not None  # now the most recently used
        for key in ("e", "f", "g", "h", "i"):
            cache.put(marker, key, Body(b"x" * 100, key))
        assert len(cache) == 8
        assert cache.get(marker, "a") is not None
        assert cache.get(marker, "b") is None  # the least recently used went first
        cache.put(marker, "big", Body(b"x" * 101, "big"))  # over an eighth: not kept
        assert cache.get(marker, "big") is None

    def test_a_new_marker_drops_everything_and_a_stale_render_is_not_kept(self) -> None:
        cache = PageCache(max_bytes=10_000)
        old, new = Marker(0, 1, 1), Marker(0, 2, 1)
        cache.get(old, "a")
        cache.put(old, "a", Body(b"old", "1"))
        assert cache.get(new, "a") is None  # a revision committed: rendered again
        cache.put(old, "a", Body(b"old", "1"))  # rendered from a read before it
        assert cache.get(new, "a") is None
        cache.put(new, "a", Body(b"new", "2"))
        found = cache.get(new, "a")
        assert found is not None
        assert found.content == b"new"

    def test_zero_keeps_nothing(self) -> None:
        cache = PageCache(max_bytes=0)
        marker = Marker(0, 1, 1)
        cache.get(marker, "a")
        cache.put(marker, "a", Body(b"", "1"))
        cache.put(marker, "b", Body(b"x", "2"))
        assert cache.get(marker, "b") is None


class TestHead:
    @pytest.mark.parametrize(
        "path",
        [
            "/",
            "/claims/{id}",
            "/embed/claims/{id}",
            "/oembed?url=https://checks.example.org/claims/{id}",
            "/feeds/fact-checks.atom",
            "/pages/static/pages.css",
            "/checkpoint.txt",
            "/checkpoint.key.txt",
            "/claims/999999",
            "/?status=nonsense",
        ],
    )
    def test_head_answers_like_get_without_a_body(
        self, pages: TestClient, client: TestClient, publish: Publish, path: str
    ) -> None:
        claim = publish()
        api_checkpoint(client)
        url = path.format(id=claim.id)
        got, head = pages.get(url), pages.head(url)
        assert head.status_code == got.status_code
        assert head.content == b""
        for name in ("content-type", "etag", "cache-control", "content-security-policy"):
            assert head.headers.get(name) == got.headers.get(name), name
        assert head.headers["content-length"] == str(len(got.content))
        if "etag" in got.headers:
            again = pages.head(url, headers={"If-None-Match": got.headers["etag"]})
            assert again.status_code == 304
            assert again.content == b""
