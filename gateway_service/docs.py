"""Swagger UI at /docs, served offline: its assets come from the ``fastapi-offline`` package, not from a CDN.

FastAPI's default /docs page loads Swagger UI from jsDelivr, so on a machine without internet it is an empty page.
``fastapi-offline`` ships Swagger UI 5 (``swagger-ui-bundle.js``, ``swagger-ui.css``, a favicon), which renders
OpenAPI 3.1; the gateway mounts that folder at ``/docs/static`` and renders FastAPI's own page pointing at it. Its
one inline script (``SwaggerUIBundle({...})``) is allowed by its SHA-256 hash in the page's
``Content-Security-Policy``, so everything else stays ``'self'`` only (no ``'unsafe-inline'``, no other host).
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
STATIC_URL = "/docs/static"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
STATIC_DIR = Path(str(files("fastapi_offline") / "static"))
"""``swagger-ui-bundle.js``, ``swagger-ui.css`` and ``favicon.png`` of the pinned ``fastapi-offline``."""

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def docs_csp(html: str) -> str:
    """The page's Content-Security-Policy: 'self' only, plus the SHA-256 of each of its inline scripts."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        f"script-src 'self' {hashes}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def _with_csp(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = docs_csp(bytes(page.body).decode())
    return page


def install(app: FastAPI) -> None:
    """Serve Swagger UI at /docs (the app is created with ``docs_url=None``) and its assets at /docs/static."""
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="docs-static")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _with_csp(
            get_swagger_ui_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
                oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
                init_oauth=app.swagger_ui_init_oauth,
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _with_csp(get_swagger_ui_oauth2_redirect_html())
