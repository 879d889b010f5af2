"""The console's sign-in through the issuer (gateway_service/oidc.py and the /console/sign-in routes), against a
provider made here (httpx MockTransport: discovery, JWKS, token endpoint with PKCE) and a fake supervisor: the PKCE
challenge, the authorization request and the flow cookie, the callback's refusals (state, error=, nonce, audience,
expired or missing flow cookie, a refused code) and its success, the feature off, and what the logs hold."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import grpc
import httpx
import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from common.config import Settings
from common.errors import ConfigError
from gateway_service.app import create_app
from gateway_service.oidc import OidcClient, code_challenge, looks_like_jwt
from gateway_service.session import (
    COOKIE,
    FLOW_COOKIE,
    FLOW_MAX_AGE_S,
    FLOW_PATH,
    SessionSealer,
    SignInFlow,
)
from tests.conftest import test_settings
from tests.fakes.oidc import SigningKey, rsa_key

ISSUER = "https://issuer.test"
CLIENT = "marketing-console"
GATEWAY = "http://console.test"


@dataclass
class Provider:
    """An OpenID provider on an httpx MockTransport: discovery, JWKS, and a token endpoint that checks PKCE."""

    key: SigningKey = field(default_factory=rsa_key)
    claims: dict[str, Any] = field(
        default_factory=lambda: {"tenant_id": "acme", "scope": "marketing.tasks.read"}
    )
    access_token: str = "opaque-access-token"
    nonce: str | None = None  # the ID token's nonce; None: the authorization request's
    audience: str = CLIENT
    discovery: dict[str, Any] = field(default_factory=dict)  # merged over the document
    token_error: str | None = None
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: list[httpx.Request] = field(default_factory=list)
    issued: list[dict[str, Any]] = field(default_factory=list)

    def authorize(self, location: str, sub: str = "alice") -> str:
        """What the browser does at the provider: the callback URL with a fresh code and the request's state."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**query, "sub": sub}
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize", "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks", "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"], **self.discovery,
            })  # fmt: skip
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [self.key.public_jwk()]})
        assert path == "/token" and request.method == "POST"
        self.token_requests.append(request)
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if self.token_error:
            return httpx.Response(400, json={"error": self.token_error})
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return httpx.Response(400, json={"error": "invalid_grant"})
        if code_challenge(form.get("code_verifier", "")) != grant["code_challenge"]:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "PKCE"})
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": [self.audience], "sub": grant["sub"], "iat": now, "exp": now + 600,
                  "nonce": self.nonce if self.nonce is not None else grant["nonce"], **self.claims}  # fmt: skip
        body = {"access_token": self.access_token, "token_type": "Bearer", "expires_in": 3600,
                "id_token": self.key.sign(claims)}  # fmt: skip
        self.issued.append(body)
        return httpx.Response(200, json=body)


class FakeSupervisor:
    """Answers ListReviews (or refuses every credential); records the credentials it was called with."""

    def __init__(self) -> None:
        self.credentials: list[str | None] = []
        self.refuse_all = False

    async def call(self, service: str, method: str, request: Any, credential: str | None, **_: Any) -> Any:
        self.credentials.append(credential)
        if self.refuse_all:
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAUTHENTICATED, grpc.aio.Metadata(), grpc.aio.Metadata(), details="refused"
            )
        from marketing.supervisor.v1 import review_pb2

        return review_pb2.ListReviewsResponse()


@dataclass
class Console:
    app: FastAPI
    http: httpx.AsyncClient
    provider: Provider
    supervisor: FakeSupervisor

    async def start(self) -> httpx.Response:
        """GET /console/sign-in/oidc."""
        return await self.http.get("/console/sign-in/oidc")

    async def sign_in(self, sub: str = "alice") -> httpx.Response:
        """The whole flow: start, the provider's consent, the callback."""
        started = await self.start()
        assert started.status_code == 303, started.text
        return await self.http.get(self.provider.authorize(started.headers["location"], sub))


def settings_for(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "auth_issuer": ISSUER,
        "auth_audience": CLIENT,
        "gateway_oidc_client_id": CLIENT,
    }
    return test_settings(**{**values, **overrides})


async def console_with(settings: Settings, provider: Provider) -> AsyncIterator[Console]:
    app = create_app(settings, channel=None)  # no lifespan: the fake supervisor replaces the channel
    supervisor = FakeSupervisor()
    app.state.supervisor = supervisor
    if app.state.oidc is not None:
        app.state.oidc = OidcClient(
            settings, http=httpx.AsyncClient(transport=httpx.MockTransport(provider.handler))
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=GATEWAY) as http:
        yield Console(app, http, provider, supervisor)
    if app.state.oidc is not None:
        await app.state.oidc._http.aclose()


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    async for running in console_with(settings_for(), Provider()):
        yield running


def flow_of(console: Console) -> SignInFlow:
    flow = console.app.state.sealer.open_flow(console.http.cookies.get(FLOW_COOKIE, path=FLOW_PATH))
    assert flow is not None
    return flow


# --- PKCE and the authorization request ------------------------------------------------------------------------


def test_the_pkce_challenge_is_the_s256_of_rfc_7636_appendix_b() -> None:
    assert (
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    verifier = secrets.token_urlsafe(64)
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert code_challenge(verifier) == digest and "=" not in digest


async def test_starting_redirects_to_the_issuer_with_state_nonce_and_an_s256_challenge(
    console: Console,
) -> None:
    response = await console.start()
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/authorize"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    flow = flow_of(console)
    assert query == {
        "response_type": "code", "client_id": CLIENT, "redirect_uri": f"{GATEWAY}{FLOW_PATH}",
        "scope": "openid marketing.tasks.read marketing.reviews.write", "state": flow.state, "nonce": flow.nonce,
        "code_challenge": code_challenge(flow.code_verifier), "code_challenge_method": "S256",
    }  # fmt: skip
    assert 43 <= len(flow.code_verifier) <= 128 and flow.code_verifier not in response.headers["location"]
    assert len(flow.state) >= 43 and flow.state != flow.nonce
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{FLOW_COOKIE}=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", f"path={FLOW_PATH}", f"max-age={FLOW_MAX_AGE_S}"} <= attributes
    for secret in (flow.code_verifier, flow.nonce, flow.state):
        assert secret not in cookie  # sealed, not readable


async def test_two_starts_make_two_different_flows(console: Console) -> None:
    await console.start()
    first = flow_of(console)
    await console.start()
    second = flow_of(console)
    assert (
        len({first.state, second.state, first.nonce, second.nonce, first.code_verifier, second.code_verifier})
        == 6
    )


async def test_the_redirect_uri_is_under_gateway_public_url_when_set() -> None:
    settings = settings_for(gateway_public_url="https://reviews.example.com/")
    async for console in console_with(settings, Provider()):
        location = (await console.start()).headers["location"]
        assert parse_qs(urlsplit(location).query)["redirect_uri"] == [
            f"https://reviews.example.com{FLOW_PATH}"
        ]


# --- the callback --------------------------------------------------------------------------------------------


async def test_a_sign_in_opens_the_session_with_the_id_token_and_continues_on_a_same_origin_page(
    console: Console,
) -> None:
    response = await console.sign_in()
    assert response.status_code == 200, response.text
    assert '<meta http-equiv="refresh" content="0; url=/console">' in response.text
    assert response.headers["referrer-policy"] == "no-referrer"
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(f"{COOKIE}="))
    assert "samesite=strict" in session.lower() and "httponly" in session.lower()
    max_age = int(next(p for p in session.split(";") if "max-age" in p.lower()).split("=")[1])
    assert 500 <= max_age <= 600  # the ID token's lifetime, not 8 hours
    flow_deleted = next(c for c in cookies if c.startswith(f"{FLOW_COOKIE}="))
    assert "max-age=0" in flow_deleted.lower() and f"path={FLOW_PATH}" in flow_deleted.lower()
    id_token = console.provider.issued[0]["id_token"]
    assert console.supervisor.credentials == [
        id_token
    ]  # the access token is opaque: the ID token is forwarded
    assert console.app.state.sealer.open(console.http.cookies[COOKIE]).credential == id_token
    form = parse_qs(console.provider.token_requests[0].content.decode())
    assert form["client_id"] == [CLIENT] and "client_secret" not in form  # a public client with PKCE
    assert "authorization" not in console.provider.token_requests[0].headers
    assert (await console.http.get("/console")).status_code == 200  # signed in


async def test_a_jwt_access_token_is_the_credential_forwarded() -> None:
    provider = Provider()
    provider.access_token = provider.key.sign({"iss": ISSUER, "aud": "marketing-api", "sub": "alice",
                                               "exp": int(time.time()) + 900})  # fmt: skip
    async for console in console_with(settings_for(), provider):
        assert (await console.sign_in()).status_code == 200
        assert console.supervisor.credentials == [provider.access_token]
        assert looks_like_jwt(provider.access_token) and not looks_like_jwt("opaque-access-token")


async def test_a_confidential_client_authenticates_with_client_secret_basic() -> None:
    async for console in console_with(settings_for(gateway_oidc_client_secret="s3cret:/+"), Provider()):
        assert (await console.sign_in()).status_code == 200
        request = console.provider.token_requests[0]
        encoded = base64.b64encode(b"marketing-console:s3cret%3A%2F%2B").decode()
        assert request.headers["authorization"] == f"Basic {encoded}"
        assert "client_secret" not in parse_qs(request.content.decode())


async def test_client_secret_post_when_the_issuer_only_offers_it() -> None:
    provider = Provider(discovery={"token_endpoint_auth_methods_supported": ["client_secret_post"]})
    async for console in console_with(settings_for(gateway_oidc_client_secret="s3cret"), provider):
        assert (await console.sign_in()).status_code == 200
        form = parse_qs(provider.token_requests[0].content.decode())
        assert form["client_secret"] == ["s3cret"] and form["client_id"] == [CLIENT]


async def test_a_state_that_does_not_match_the_flow_cookie_is_refused(console: Console) -> None:
    started = await console.start()
    callback = console.provider.authorize(started.headers["location"])
    flow = flow_of(console)
    tampered = callback.replace(
        flow.state, flow.state[:-2] + ("AA" if not flow.state.endswith("AA") else "BB")
    )
    response = await console.http.get(tampered)
    assert response.status_code == 400
    assert "does not belong to the sign-in this browser started" in response.text
    assert console.provider.token_requests == [] and console.supervisor.credentials == []
    assert COOKIE not in console.http.cookies
    replay = await console.http.get(callback)  # the flow ended with the first callback
    assert replay.status_code == 400 and "expired or was not started in this browser" in replay.text


async def test_a_replayed_callback_is_refused(console: Console) -> None:
    started = await console.start()
    callback = console.provider.authorize(started.headers["location"])
    assert (await console.http.get(callback)).status_code == 200
    console.http.cookies.delete(COOKIE)
    replay = await console.http.get(callback)
    assert replay.status_code == 400 and "start again" in replay.text
    assert len(console.provider.token_requests) == 1 and COOKIE not in console.http.cookies


async def test_a_missing_or_expired_flow_cookie_is_refused(console: Console) -> None:
    started = await console.start()
    callback = console.provider.authorize(started.headers["location"])
    flow = flow_of(console)
    console.http.cookies.delete(FLOW_COOKIE, path=FLOW_PATH)
    missing = await console.http.get(callback)
    assert missing.status_code == 400 and "expired or was not started in this browser" in missing.text
    old = SignInFlow(
        flow.state, flow.nonce, flow.code_verifier, flow.redirect_uri, time.time() - FLOW_MAX_AGE_S - 5
    )
    console.http.cookies.set(FLOW_COOKIE, console.app.state.sealer.seal_flow(old), path=FLOW_PATH)
    expired = await console.http.get(callback)
    assert expired.status_code == 400 and "expired" in expired.text
    assert console.provider.token_requests == []


def test_the_flow_cookie_and_the_session_cookie_never_open_as_each_other() -> None:
    sealer = SessionSealer("secret")
    flow = SignInFlow("s", "n", "v", "http://x/cb", time.time())
    session_value, _ = sealer.seal("token")
    assert sealer.open_flow(sealer.seal_flow(flow)) == flow
    assert sealer.open(sealer.seal_flow(flow)) is None
    assert sealer.open_flow(session_value) is None
    assert SessionSealer("other").open_flow(sealer.seal_flow(flow)) is None
    assert sealer.open_flow(sealer.seal_flow(flow), now=time.time() + FLOW_MAX_AGE_S + 1) is None


async def test_an_error_from_the_provider_is_a_clear_page(console: Console) -> None:
    started = await console.start()
    state = flow_of(console).state
    query = urlencode(
        {"error": "access_denied", "error_description": "The user denied the request", "state": state}
    )
    response = await console.http.get(f"{FLOW_PATH}?{query}")
    assert response.status_code == 401
    assert "did not sign you in (access_denied: The user denied the request)" in response.text
    assert "Sign in with issuer.test" in response.text and console.provider.token_requests == []
    assert started.status_code == 303


async def test_an_error_with_a_foreign_or_missing_state_shows_only_the_error_code(console: Console) -> None:
    await console.start()
    for state in ("x", None):  # oidc-provider-mock leaves the state off its access_denied answer
        query = {"error": "access_denied", "error_description": "Call +1 555 0100 to unlock"}
        query |= {"state": state} if state else {}
        response = await console.http.get(f"{FLOW_PATH}?{urlencode(query)}")
        assert response.status_code == 401 and "did not sign you in (access_denied)" in response.text
        assert "555" not in response.text
    odd = await console.http.get(FLOW_PATH, params={"error": 'x<b>"y'})
    assert "did not sign you in (error)" in odd.text


async def test_an_id_token_with_another_nonce_is_refused() -> None:
    async for console in console_with(settings_for(), Provider(nonce="someone-elses-nonce")):
        response = await console.sign_in()
        assert response.status_code == 401 and "nonce" in response.text
        assert console.supervisor.credentials == [] and COOKIE not in console.http.cookies


async def test_an_id_token_for_another_client_is_refused() -> None:
    async for console in console_with(settings_for(), Provider(audience="another-app")):
        response = await console.sign_in()
        assert response.status_code == 401 and "audience" in response.text
        assert console.supervisor.credentials == []


@pytest.mark.parametrize(
    ("claims", "status", "shown"),
    [
        (
            {
                "at_hash": base64.urlsafe_b64encode(hashlib.sha256(b"opaque-access-token").digest()[:16])
                .rstrip(b"=")
                .decode()
            },
            200,
            "Signed in",
        ),
        ({"at_hash": "bm90IHRoZSBoYXNo"}, 401, "at_hash does not match the access token"),
        ({"azp": "another-app"}, 401, "issued to another client (azp)"),
        ({"azp": CLIENT}, 200, "Signed in"),
    ],
)
async def test_at_hash_and_azp_are_checked(claims: dict[str, Any], status: int, shown: str) -> None:
    async for console in console_with(settings_for(), Provider(claims={"tenant_id": "acme", **claims})):
        response = await console.sign_in()
        assert response.status_code == status and shown in response.text


async def test_a_code_the_provider_refuses_is_a_clear_page() -> None:
    async for console in console_with(settings_for(), Provider(token_error="invalid_grant")):
        response = await console.sign_in()
        assert response.status_code == 400
        assert "refused to complete the sign-in (invalid_grant)" in response.text


async def test_a_credential_the_supervisor_refuses_opens_no_session(console: Console) -> None:
    console.supervisor.refuse_all = True
    response = await console.sign_in()
    assert response.status_code == 401 and "was not accepted" in response.text
    assert COOKIE not in console.http.cookies


async def test_an_unreachable_issuer_is_a_page_not_a_traceback() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    async for console in console_with(settings_for(), Provider()):
        console.app.state.oidc = OidcClient(
            console.app.state.settings, http=httpx.AsyncClient(transport=httpx.MockTransport(down))
        )
        response = await console.start()
        assert response.status_code == 503 and "cannot be reached" in response.text
        assert FLOW_COOKIE not in response.headers.get("set-cookie", "")


async def test_an_issuer_without_s256_is_refused() -> None:
    async for console in console_with(
        settings_for(), Provider(discovery={"code_challenge_methods_supported": ["plain"]})
    ):
        response = await console.start()
        assert response.status_code == 502 and "PKCE" in response.text


async def test_discovery_is_cached(console: Console) -> None:
    calls: list[str] = []
    handler = console.provider.handler

    def counting(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return handler(request)

    console.app.state.oidc = OidcClient(
        console.app.state.settings, http=httpx.AsyncClient(transport=httpx.MockTransport(counting))
    )
    await console.sign_in()
    await console.sign_in("bob")
    assert calls.count("/.well-known/openid-configuration") == 1 and calls.count("/jwks") == 1


async def test_logs_hold_no_token_and_no_code(console: Console) -> None:
    with capture_logs() as logs:
        started = await console.start()
        flow = flow_of(console)
        callback = console.provider.authorize(started.headers["location"])
        assert (await console.http.get(callback)).status_code == 200
    issued = console.provider.issued[0]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    secrets_seen = [
        issued["id_token"],
        issued["access_token"],
        code,
        flow.state,
        flow.nonce,
        flow.code_verifier,
    ]
    assert any(entry.get("event") == "console_sign_in" for entry in logs)
    text = json.dumps(logs, default=str)
    for secret in secrets_seen:
        assert secret not in text


# --- the feature off, the settings ---------------------------------------------------------------------------


async def test_without_a_client_id_the_routes_answer_404_and_the_page_has_no_button() -> None:
    settings = test_settings(auth_issuer=ISSUER, auth_audience=CLIENT)
    async for console in console_with(settings, Provider()):
        assert console.app.state.oidc is None
        assert (await console.start()).status_code == 404
        assert (await console.http.get(f"{FLOW_PATH}?code=x&state=y")).status_code == 404
        page = await console.http.get("/console/sign-in")
        assert page.status_code == 200 and "Sign in with" not in page.text and "sign-in/oidc" not in page.text


async def test_with_a_client_id_the_sign_in_page_offers_the_issuer(console: Console) -> None:
    page = await console.http.get("/console/sign-in")
    assert 'href="/console/sign-in/oidc"' in page.text and "Sign in with issuer.test" in page.text
    assert 'name="credential"' in page.text  # the key form stays


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"gateway_oidc_client_id": CLIENT}, "GATEWAY_OIDC_CLIENT_ID needs AUTH_ISSUER"),
        ({"gateway_oidc_client_secret": "s"}, "GATEWAY_OIDC_CLIENT_SECRET is set but GATEWAY_OIDC_CLIENT_ID"),
        ({"gateway_oidc_scopes": "marketing.tasks.read"}, "GATEWAY_OIDC_SCOPES"),
        ({"gateway_public_url": "reviews.example.com"}, "GATEWAY_PUBLIC_URL"),
        ({"gateway_public_url": "https://example.com/reviews"}, "GATEWAY_PUBLIC_URL"),
    ],
)
def test_bad_sign_in_settings_stop_the_gateway(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        test_settings(**overrides)


def test_the_client_secret_is_not_in_the_settings_repr() -> None:
    assert "s3cret" not in repr(settings_for(gateway_oidc_client_secret="s3cret"))
