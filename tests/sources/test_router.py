"""The HTTP contract of /sources: a URL is unique and http(s), the outlet filter, the tracked
routes."""

from typing import Any, ClassVar

from starlette.testclient import TestClient

from tests.helpers import created
from tests.tracked_routes import TrackedRoutes


class TestTrackedRoutes(TrackedRoutes):
    path = "/api/v1/sources"
    body: ClassVar[dict[str, Any]] = {"url": "https://t.me/concordgroup/1"}
    change: ClassVar[dict[str, Any]] = {"title": "Post"}


class TestSources:
    def test_a_url_is_unique(self, client: TestClient) -> None:
        created(client, "/api/v1/sources", {"url": "https://www.reuters.com/a"})
        again = client.post("/api/v1/sources", json={"url": "https://www.reuters.com/a"})
        assert again.status_code == 409

    def test_a_url_must_be_http(self, client: TestClient) -> None:
        response = client.post("/api/v1/sources", json={"url": "javascript:alert(1)"})
        assert response.status_code == 422

    def test_filter_by_outlet(self, client: TestClient) -> None:
        outlet = created(client, "/api/v1/outlets", {"name": "Reuters", "kind": "wire"})
        wanted = created(
            client, "/api/v1/sources", {"url": "https://r.com/1", "outlet_id": outlet["id"]}
        )
        created(client, "/api/v1/sources", {"url": "https://r.com/2"})
        items = client.get("/api/v1/sources", params={"outlet_id": outlet["id"]}).json()["items"]
        assert [item["id"] for item in items] == [wanted["id"]]
