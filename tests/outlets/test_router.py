"""The HTTP contract of /outlets: the tracked routes."""

from typing import Any, ClassVar

from tests.tracked_routes import TrackedRoutes


class TestTrackedRoutes(TrackedRoutes):
    path = "/api/v1/outlets"
    body: ClassVar[dict[str, Any]] = {"name": "Reuters", "kind": "wire"}
    change: ClassVar[dict[str, Any]] = {"domain": "reuters.com"}
