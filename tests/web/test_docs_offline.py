"""/docs works without the internet: the page names no other host, and every asset it names
is served by the app itself with the right content type."""

import re

import pytest
from starlette.testclient import TestClient

from app.web.api_docs import ASSETS_PATH

# Every URL the page makes the browser load: src=, href= and Swagger UI's `url: '...'`.
REFERENCE = re.compile(r"""(?:src|href)="([^"]*)"|\burl: '([^']*)'""")
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


@pytest.fixture
def page(anonymous: TestClient) -> str:
    response = anonymous.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def references(html: str) -> list[str]:
    return [src or url for src, url in REFERENCE.findall(html)]


class TestDocsOffline:
    def test_the_page_names_no_other_host(self, page: str) -> None:
        assert not re.search(r"https?:|//[A-Za-z0-9]", page)
        assert all(ref.startswith("/") for ref in references(page))

    def test_every_referenced_asset_is_served_with_its_type(
        self, page: str, anonymous: TestClient
    ) -> None:
        refs = references(page)
        assert {f"{ASSETS_PATH}/swagger-ui-bundle.js", f"{ASSETS_PATH}/swagger-ui.css"} <= set(refs)
        for ref in refs:
            response = anonymous.get(ref)
            assert response.status_code == 200, ref
            suffix = ref[ref.rindex(".") :]
            media_type = response.headers["content-type"].split(";")[0]
            assert media_type in CONTENT_TYPES[suffix], (ref, media_type)

    def test_swagger_ui_does_not_call_the_online_validator(self, page: str) -> None:
        assert '"validatorUrl": null' in page

    def test_redoc_is_not_offered(self, anonymous: TestClient) -> None:
        assert anonymous.get("/redoc").status_code == 404

    def test_docs_routes_are_not_in_the_openapi_document(self, anonymous: TestClient) -> None:
        paths = anonymous.get("/openapi.json").json()["paths"]
        assert not [path for path in paths if path.startswith("/docs")]

    def test_an_unknown_asset_is_a_problem_404(self, anonymous: TestClient) -> None:
        response = anonymous.get(f"{ASSETS_PATH}/nothing.js")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
