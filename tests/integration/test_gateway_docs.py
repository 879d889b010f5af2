"""/docs without internet: Swagger UI's assets come from the gateway itself (fastapi-offline), in a real browser with
every request to another host aborted, under a Content-Security-Policy that names no other host."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from common.launcher import free_port
from tests.conftest import test_settings
from tests.integration.gateway_stack import running_gateway

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.async_api")


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[str]:
    """The gateway alone: /docs and /openapi.json never call the supervisor (nothing listens at its address)."""
    settings = test_settings(gateway_supervisor_addr=f"127.0.0.1:{free_port()}")
    async with running_gateway(settings, None) as url:
        yield url


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run does it)")
async def test_swagger_ui_renders_the_operations_with_every_other_host_blocked(
    gateway: str, tmp_path: Path
) -> None:
    local = urlsplit(gateway).netloc
    other_hosts: list[str] = []
    violations: list[str] = []

    async def only_this_host(route: Any) -> None:
        if urlsplit(route.request.url).netloc == local:
            await route.continue_()
        else:
            other_hosts.append(route.request.url)
            await route.abort()

    async with playwright_api.async_playwright() as pw:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 900})
            await page.route("**/*", only_this_host)
            page.on(
                "console",
                lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
            )
            response = await page.goto(f"{gateway}/docs")
            assert response is not None and response.status == 200
            submit = page.locator(".opblock-post", has_text="/v1/tasks").first
            await playwright_api.expect(submit).to_be_visible(timeout=30_000)
            assert "POST" in await submit.inner_text()
            await playwright_api.expect(page.locator(".opblock-get", has_text="/v1/workflows/{workflow_id}").first).to_be_visible()  # fmt: skip
            await page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)
        finally:
            await browser.close()
    assert other_hosts == []  # nothing was even attempted beyond the gateway
    assert violations == []  # the inline script's hash and the local assets are all the page needs


async def test_the_docs_policy_names_no_other_host_and_allows_only_the_pages_inline_script(
    gateway: str,
) -> None:
    async with httpx.AsyncClient(base_url=gateway) as http:
        docs = await http.get("/docs")
        script = await http.get("/docs/static/swagger-ui-bundle.js")
        css = await http.get("/docs/static/swagger-ui.css")
        redirect = await http.get("/docs/oauth2-redirect")
    assert docs.status_code == 200 and "/docs/static/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower() and "https://" not in docs.text
    assert script.status_code == 200 and len(script.content) > 500_000 and "SwaggerUIBundle" in script.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for page in (docs, redirect):
        csp = page.headers["content-security-policy"]
        assert "http" not in csp and "*" not in csp and "unsafe" not in csp, csp
        sources = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
        assert sources["default-src"] == ["'self'"] and sources["frame-ancestors"] == ["'none'"]
        hashes = [s for s in sources["script-src"] if s.startswith("'sha256-")]
        assert sources["script-src"] == ["'self'", *hashes] and len(hashes) == 1
        assert len(re.findall(r"<script>", page.text)) == 1


async def test_graphql_has_no_in_browser_ide(gateway: str) -> None:
    """GraphiQL would load its scripts from a CDN: it is off, and GET /graphql runs no query."""
    async with httpx.AsyncClient(base_url=gateway) as http:
        page = await http.get("/graphql", headers={"accept": "text/html"})
        query = await http.get("/graphql", params={"query": "{ __typename }"})
    assert page.status_code == 404 and "graphiql" not in page.text.lower()
    assert query.status_code != 200
