"""The review console in a real browser: Playwright drives Debian's headless chromium (no browser download)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import authenticated_stack, tenant_api_key, test_settings
from tests.integration.gateway_stack import campaign_awaiting_review, running_gateway

CHROMIUM = Path("/usr/bin/chromium")
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"
playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run does it)"
)


@pytest.fixture(scope="module")
async def console() -> AsyncIterator[dict[str, Any]]:
    settings = test_settings(auth_disabled=False)
    async with authenticated_stack(settings, ["acme", "globex"]) as (channel, keys):
        workflow = await campaign_awaiting_review(channel, keys["acme"])
        reviewer = dict(await tenant_api_key(settings, "acme"))["authorization"].removeprefix("Bearer ")
        other = dict(keys["globex"])["authorization"].removeprefix("Bearer ")
        async with running_gateway(settings, channel) as url, playwright_api.async_playwright() as pw:
            args = ["--no-sandbox"] if os.geteuid() == 0 else []
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
            try:
                yield {"url": url, "workflow": workflow, "reviewer": reviewer, "other": other, "browser": browser,
                       "start": lambda: campaign_awaiting_review(channel, keys["acme"])}  # fmt: skip
            finally:
                await browser.close()


async def sign_in(browser: Any, url: str, credential: str) -> Any:
    page = await (await browser.new_context(viewport={"width": 1100, "height": 900})).new_page()
    await page.goto(f"{url}/console")
    assert page.url.endswith("/console/sign-in")
    await page.get_by_label("API key or access token").fill(credential)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")  # keyboard only
    assert page.url == f"{url}/console", await page.content()
    return page


async def test_a_reviewer_edits_an_over_long_post_fixes_it_approves_and_sees_the_workflow_complete(
    console: dict[str, Any], tmp_path: Path
) -> None:
    url, workflow = console["url"], console["workflow"]
    page = await sign_in(console["browser"], url, console["reviewer"])
    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "marketing_console")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert console["reviewer"] not in session["value"]  # sealed, not readable
    await page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)
    await page.get_by_role("link", name=workflow.review_id).click()
    await page.wait_for_url(f"{url}/console/reviews/{workflow.review_id}")
    x_box = page.locator("textarea[name^='text-'][data-max-length='280']").first
    await x_box.fill("Launch! " * 40)  # 320 characters
    count = page.locator(f"#{await x_box.get_attribute('aria-describedby')}".split(" ")[0])
    assert "over the limit" in await count.inner_text()
    await page.get_by_role("button", name="Approve").click()
    await page.wait_for_load_state()
    error = page.locator("#approve-error")
    assert "Not approved" in await error.inner_text()
    assert await page.locator("textarea[aria-invalid='true']").count() == 1
    await page.screenshot(path=str(tmp_path / "review-error.png"), full_page=True)
    x_box = page.locator("textarea[name^='text-'][data-max-length='280']").first
    await x_box.fill("Our vector database is open source today. #opensource")
    await page.get_by_role("button", name="Approve").click()
    await page.wait_for_url(f"{url}/console/workflows/{workflow.id}")
    status = page.locator("#workflow-status")
    await playwright_api.expect(status).to_have_text("COMPLETED", timeout=60_000)  # live update, then reload
    await page.screenshot(path=str(tmp_path / "workflow.png"), full_page=True)
    assert await page.locator("details.artifact").count() > 0
    review = (await (await page.request.get(f"{url}/v1/reviews/{workflow.review_id}")).json())["review"]
    for view in review["items"]:  # the untouched post is approved exactly as written (no CRLF from the form)
        assert "\r" not in view["approved_text"]
        if view["item"]["platform"] != "x":
            assert view["approved_text"] == view["item"]["text"]
    await page.goto(f"{url}/console")
    assert await page.locator("#empty-queue").is_visible()


async def test_a_reviewer_of_another_tenant_sees_nothing(console: dict[str, Any], tmp_path: Path) -> None:
    url, workflow = console["url"], console["workflow"]
    page = await sign_in(console["browser"], url, console["other"])
    assert await page.locator("#empty-queue").is_visible()
    assert workflow.review_id not in await page.content()
    response = await page.goto(f"{url}/console/reviews/{workflow.review_id}")
    assert response is not None and response.status == 404


async def test_a_bad_key_is_refused_and_a_forged_form_post_is_rejected(console: dict[str, Any]) -> None:
    url, workflow = console["url"], console["workflow"]
    page = await (await console["browser"].new_context()).new_page()
    await page.goto(f"{url}/console/sign-in")
    await page.get_by_label("API key or access token").fill("mka_nope_nope")
    await page.get_by_role("button", name="Sign in").click()
    assert "not accepted" in await page.locator("[role=alert]").inner_text()
    page = await sign_in(console["browser"], url, console["reviewer"])
    forged = await page.request.post(
        f"{url}/console/reviews/{workflow.review_id}/reject",
        form={"csrf": "guessed", "comments": "forged"},
        headers={"origin": url},
    )
    assert forged.status == 403
    headers = (await page.request.get(f"{url}/console")).headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


async def test_save_the_screenshot_for_the_readme(console: dict[str, Any], tmp_path: Path) -> None:
    """The README's picture: a pending review (a fresh campaign) as the reviewer sees it. docs/console.png is
    written when it is missing (delete it to refresh it), so a test run leaves the working tree clean."""
    url = console["url"]
    workflow = await console["start"]()
    page = await sign_in(console["browser"], url, console["reviewer"])
    await page.get_by_role("link", name=workflow.review_id).click()
    await page.wait_for_url(f"{url}/console/reviews/{workflow.review_id}")
    assert await page.locator("section.item").count() >= 2
    await page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
    assert (tmp_path / "review.png").stat().st_size > 10_000
    if not DOCS_SCREENSHOT.exists():
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "review.png", DOCS_SCREENSHOT)
