"""The review console's sign-in through a real OpenID provider, in a real browser: Playwright drives Debian's headless
chromium through oidc-provider-mock's consent page (authorization code flow with PKCE, which ``PkceCheck`` verifies)
to the queue of the reviewer's own tenant.

The provider is reached as ``localhost`` and the gateway as ``127.0.0.1``: two sites, so the callback ends a
cross-site redirect chain, as with a real issuer. A SameSite=Strict session cookie is not sent on a navigation such a
chain starts; the tests show that the console still lands signed in, and that the browser really withholds the
cookie from a cross-site navigation here.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.conftest import authenticated_stack, test_settings
from tests.fakes.oidc import OidcProvider
from tests.integration.gateway_stack import campaign_awaiting_review, running_gateway

CHROMIUM = Path("/usr/bin/chromium")
CLIENT = (
    "marketing-console"  # the console's client id, and the supervisor's AUTH_AUDIENCE (it gets ID tokens)
)
REVIEWER = "marketing.tasks.read marketing.reviews.write"
USERS = {"alice": {"tenant_id": "acme", "scope": REVIEWER}, "bob": {"tenant_id": "globex", "scope": REVIEWER}}
playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run does it)"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib.*"),
]


@pytest.fixture(scope="module")
async def console() -> AsyncIterator[dict[str, Any]]:
    with OidcProvider(USERS) as provider:
        issuer = provider.issuer.replace("127.0.0.1", "localhost")  # another site than the gateway's
        settings = test_settings(
            auth_disabled=False, auth_issuer=issuer, auth_audience=CLIENT, gateway_oidc_client_id=CLIENT
        )
        async with authenticated_stack(settings, ["acme", "globex"]) as (channel, keys):
            workflow = await campaign_awaiting_review(channel, keys["acme"])
            async with running_gateway(settings, channel) as url, playwright_api.async_playwright() as pw:
                args = ["--no-sandbox"] if os.geteuid() == 0 else []
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
                try:
                    yield {"url": url, "issuer": issuer, "provider": provider, "workflow": workflow,
                           "browser": browser}  # fmt: skip
                finally:
                    await browser.close()


async def new_page(console: dict[str, Any]) -> Any:
    context = await console["browser"].new_context(viewport={"width": 1100, "height": 900})
    return await context.new_page()


async def sign_in_at_the_provider(console: dict[str, Any], page: Any, user: str) -> list[Any]:
    """From the console's sign-in page through the provider's consent page; returns the requests of the page's
    navigations (Playwright ``Request``s: ``url``, ``redirected_from``)."""
    url, issuer = console["url"], console["issuer"]
    navigations: list[Any] = []
    page.on("request", lambda r: navigations.append(r) if r.is_navigation_request() else None)
    await page.goto(f"{url}/console")
    assert page.url == f"{url}/console/sign-in"
    await page.get_by_role("link", name=f"Sign in with {urlsplit(issuer).netloc}").click()
    await page.wait_for_url(f"{issuer}/oauth2/authorize?*")
    await page.get_by_role("button", name=user, exact=True).click()  # the provider's predefined user
    return navigations


async def test_a_reviewer_signs_in_through_the_provider_and_lands_on_their_tenants_queue(
    console: dict[str, Any], tmp_path: Path
) -> None:
    url, workflow, provider = console["url"], console["workflow"], console["provider"]
    page = await new_page(console)
    navigations = await sign_in_at_the_provider(console, page, "alice")
    await page.wait_for_url(f"{url}/console")
    await playwright_api.expect(page.get_by_role("link", name=workflow.review_id)).to_be_visible()
    urls = [r.url for r in navigations]
    await page.screenshot(path=str(tmp_path / "queue-after-oidc.png"), full_page=True)

    authorize = next(u for u in urls if u.startswith(f"{console['issuer']}/oauth2/authorize"))
    request = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert request["code_challenge_method"] == "S256" and request["response_type"] == "code"
    assert request["client_id"] == CLIENT and request["redirect_uri"] == f"{url}/console/sign-in/callback"
    callback = next(u for u in urls if u.startswith(f"{url}/console/sign-in/callback"))
    assert parse_qs(urlsplit(callback).query)["state"] == [request["state"]]
    arrived = navigations[urls.index(callback) :]
    assert [r.url for r in arrived] == [callback, f"{url}/console"]
    assert arrived[0].redirected_from.url.startswith(
        f"{console['issuer']}/oauth2/authorize"
    )  # cross-site chain
    assert arrived[1].redirected_from is None  # a new, same-site navigation from the callback's page
    exchange = provider.pkce.token_requests[-1]  # PkceCheck refused any verifier but the challenge's
    assert exchange["code_verifier"] and exchange["client_id"] == CLIENT and "client_secret" not in exchange
    assert not exchange["basic_auth"] and not provider.pkce.challenges  # the code was spent, verified

    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert "marketing_console_sign_in" not in cookies  # the flow cookie was deleted
    session = cookies["marketing_console"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    for navigated in urls:  # no token in any URL
        assert "id_token" not in navigated and "access_token" not in navigated

    # The browser really withholds the Strict cookie from a navigation that a page of the provider's site starts
    # (a plain redirect from the callback would be such a navigation): the console asks to sign in...
    await page.goto(f"{console['issuer']}/")
    async with page.expect_navigation():
        await page.evaluate("url => { const a = document.createElement('a'); a.href = url; document.body.append(a);"
                            " a.click(); }", f"{url}/console")  # fmt: skip
    assert page.url == f"{url}/console/sign-in"
    # ...while the session is there for a same-site navigation.
    await page.goto(f"{url}/console")
    assert page.url == f"{url}/console"


async def test_a_reviewer_of_another_tenant_signs_in_through_the_provider_and_sees_nothing(
    console: dict[str, Any],
) -> None:
    url, workflow = console["url"], console["workflow"]
    page = await new_page(console)
    await sign_in_at_the_provider(console, page, "bob")
    await page.wait_for_url(f"{url}/console")
    assert await page.locator("#empty-queue").is_visible()
    assert workflow.review_id not in await page.content()
    response = await page.goto(f"{url}/console/reviews/{workflow.review_id}")
    assert response is not None and response.status == 404


async def test_a_tampered_state_is_refused(console: dict[str, Any]) -> None:
    url = console["url"]
    page = await new_page(console)

    async def tamper(route: Any) -> None:
        """The provider's redirect back to the console, with another state (a redirect's target is not routed)."""
        if route.request.method != "POST":
            await route.continue_()
            return
        answer = await route.fetch(max_redirects=0)
        parts = urlsplit(answer.headers["location"])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        query["state"] = query["state"][:-4] + ("AAAA" if not query["state"].endswith("AAAA") else "BBBB")
        location = parts._replace(query=urlencode(query)).geturl()
        await route.fulfill(response=answer, headers={**answer.headers, "location": location})

    await page.route(f"{console['issuer']}/oauth2/authorize?*", tamper)
    await sign_in_at_the_provider(console, page, "alice")
    await page.wait_for_url(f"{url}/console/sign-in/callback?*")
    alert = page.locator("[role=alert]")
    assert "does not belong to the sign-in this browser started" in await alert.inner_text()
    assert "marketing_console" not in {c["name"] for c in await page.context.cookies()}
    await page.goto(f"{url}/console")
    assert page.url == f"{url}/console/sign-in"


async def test_a_replayed_callback_is_refused(console: dict[str, Any]) -> None:
    url = console["url"]
    page = await new_page(console)
    navigations = await sign_in_at_the_provider(console, page, "alice")
    await page.wait_for_url(f"{url}/console")
    callback = next(r.url for r in navigations if r.url.startswith(f"{url}/console/sign-in/callback"))
    for replaying in (page, await new_page(console)):  # the same browser again, and another one
        response = await replaying.goto(callback)
        assert response is not None and response.status == 400
        assert (
            "expired or was not started in this browser"
            in await replaying.locator("[role=alert]").inner_text()
        )
    other = await new_page(console)  # the other browser is still not signed in
    await other.goto(f"{url}/console")
    assert other.url == f"{url}/console/sign-in"


async def test_a_denial_at_the_provider_is_a_clear_page(console: dict[str, Any]) -> None:
    url = console["url"]
    page = await new_page(console)
    await page.goto(f"{url}/console/sign-in")
    await page.get_by_role("link", name="Sign in with").click()
    await page.wait_for_url(f"{console['issuer']}/oauth2/authorize?*")
    await page.get_by_role("button", name="Deny").click()
    await page.wait_for_url(f"{url}/console/sign-in/callback?*")
    assert "did not sign you in (access_denied)" in await page.locator("[role=alert]").inner_text()
    assert await page.get_by_label("API key or access token").is_visible()  # the key form is still offered
