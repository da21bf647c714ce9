"""The README's screenshots of the public pages, taken from the seeded app:

    .venv/bin/python -m tests.pages.screenshots

writes docs/pages-index.png (the index) and docs/pages-claim.png (a fact-check whose seeded
verdict was later corrected, with its Dutch original quote), with Debian's Chromium.
"""

import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from app.schema.migrate import upgrade
from app.tlog.signing import create_key_file
from tests.pages.browser import CHROMIUM, pages_server

DOCS = Path(__file__).resolve().parents[2] / "docs"
VIEWPORT = {"width": 1100, "height": 1400}
ORIGIN = "factchecks.example.org/history"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pages-screenshots-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'claims.db'}"
        upgrade(url)
        # A signing key, so that the footer shows the transparency log's checkpoint.
        key_file = Path(tmp) / "checkpoint.key"
        create_key_file(key_file, ORIGIN)
        env = {"CLAIMS_CHECKPOINT_KEY_FILE": str(key_file), "CLAIMS_CHECKPOINT_ORIGIN": ORIGIN}
        with pages_server(url, env) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{server.base_url}/")
            page.screenshot(path=DOCS / "pages-index.png")
            links = page.locator(".fact-checks h2 a")
            hrefs = [links.nth(n).get_attribute("href") for n in range(links.count())]
            for href in hrefs:
                page.goto(f"{server.base_url}{href}")
                if page.locator(".correction").count() and page.locator(".quote").count():
                    break
            page.screenshot(path=DOCS / "pages-claim.png", full_page=True)
            print(f"wrote {DOCS / 'pages-index.png'} and {DOCS / 'pages-claim.png'} ({page.url})")
            browser.close()


if __name__ == "__main__":
    main()
