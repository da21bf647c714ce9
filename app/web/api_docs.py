"""Swagger UI at ``/docs`` from assets this app serves itself: no CDN, no other host (a desk's
intranet may have no internet). The assets come from the pinned ``fastapi-offline`` package
(Swagger UI's own build) under a path that names its version, so browsers may keep them.

ReDoc is not offered: its bundle loads a logo from its vendor's CDN.
"""

from importlib import metadata

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_PATH = "/docs"
ASSETS_PACKAGE = "fastapi_offline"
ASSETS_PATH = f"{DOCS_PATH}/assets/{metadata.version('fastapi-offline')}"
# A new package version is a new path, so a copy never goes stale.
IMMUTABLE = "public, max-age=31536000, immutable"


class _Immutable:
    """Marks the versioned assets as cacheable for a year."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_cacheable(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                message["headers"] = [
                    *message.get("headers", []),
                    (b"cache-control", IMMUTABLE.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_cacheable)


def install_docs(app: FastAPI) -> None:
    """``/docs`` and its assets; neither is in the OpenAPI document."""
    app.mount(
        ASSETS_PATH,
        _Immutable(StaticFiles(packages=[(ASSETS_PACKAGE, "static")])),
        name="docs-assets",
    )
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            # No OAuth flows here (keys are bearer tokens), and no online validator badge:
            # Swagger UI would otherwise send the document's URL to validator.swagger.io.
            oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},
        )
