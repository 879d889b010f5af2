"""The console's sign-in through the OpenID issuer ``AUTH_ISSUER``: the OAuth 2.0 authorization code flow with PKCE
(RFC 6749 section 4.1, RFC 7636 with S256) and the ID token checks of OpenID Connect Core (section 3.1.3.7).

The provider is found by discovery (``<issuer>/.well-known/openid-configuration``, cached for an hour). The ID token
is verified by ``common.auth.jwt_tokens.JwtVerifier`` (signature against the issuer's JWKS, ``iss``, ``aud`` = the
console's client id, ``exp``), then its ``nonce``, ``azp`` and ``at_hash`` here.

Which credential the console forwards to the supervisor: the access token when it is a JWT (a provider that issues
JWT access tokens for the API's audience); otherwise the ID token, which then must pass the supervisor's checks
(``AUTH_AUDIENCE`` = the console's client id, the tenant claim and scopes in the ID token). oidc-provider-mock, the
provider of the tests, issues opaque access tokens and ID tokens that carry the user's claims.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

import httpx
import jwt
from jwt import exceptions as jwt_errors

from common.auth.jwt_tokens import JwtVerifier
from common.config import Settings
from common.errors import Unauthenticated
from common.logging import get_logger
from gateway_service.session import FLOW_PATH, MAX_AGE_S, SignInFlow

log = get_logger(__name__)

PKCE_METHOD = "S256"
DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_TTL_S = 3600.0
HTTP_TIMEOUT_S = 10.0
_SHA = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


class SignInError(Exception):
    """The sign-in failed; ``message`` is shown to the person signing in (no token, no code in it).

    Attributes:
        message: What went wrong, for the page.
        status: The HTTP status of the page.
        reason: A short machine-readable reason, for the log.
    """

    def __init__(self, message: str, status: int, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ProviderMetadata:
    """What the console uses of the issuer's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_endpoint_auth_methods: tuple[str, ...]


@dataclass(frozen=True)
class SignedIn:
    """The outcome of a sign-in: the credential to forward, for how long it is valid, whose it is."""

    credential: str
    kind: str  # "access_token" (a JWT) or "id_token"
    lifetime_s: int
    subject: str


def code_challenge(verifier: str) -> str:
    """The S256 PKCE challenge of a code verifier: BASE64URL(SHA256(ASCII(verifier))), unpadded (RFC 7636 4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_flow(redirect_uri: str, now: float | None = None) -> SignInFlow:
    """A fresh flow: random state and nonce (256 bits each) and a 86-character code verifier."""
    return SignInFlow(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),
        redirect_uri=redirect_uri,
        started_at=time.time() if now is None else now,
    )


def looks_like_jwt(token: str) -> bool:
    """Whether a token is a JWS compact serialization with a signing algorithm (an opaque token is not)."""
    if token.count(".") != 2:
        return False
    try:
        header = jwt.get_unverified_header(token)
    except jwt_errors.PyJWTError:
        return False
    return isinstance(header.get("alg"), str) and header["alg"] != "none"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _http_url(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"^https?://[^\s]+$", value) is not None


class OidcClient:
    """The console as a client of the issuer.

    Args:
        settings: ``AUTH_ISSUER``, ``GATEWAY_OIDC_*``, ``GATEWAY_PUBLIC_URL``, ``AUTH_CLOCK_SKEW_S``...
        http: The HTTP client to use (tests pass one with a mock transport); one is created and owned otherwise.
        clock: The wall clock (epoch seconds).
        monotonic: The clock of the discovery cache.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        assert settings.auth_issuer and settings.gateway_oidc_client_id, "the feature is off"
        self.issuer = settings.auth_issuer.rstrip("/")
        self.client_id = settings.gateway_oidc_client_id
        self._secret = settings.gateway_oidc_client_secret
        self.scopes = settings.gateway_oidc_scopes
        self.public_url = settings.gateway_public_url
        self._settings = settings
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, follow_redirects=False)
        self._clock = clock
        self._monotonic = monotonic
        self._metadata: ProviderMetadata | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._verifier: JwtVerifier | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcClient | None:
        """The client, or None when the feature is off (no ``GATEWAY_OIDC_CLIENT_ID`` or no ``AUTH_ISSUER``)."""
        if not settings.auth_issuer or not settings.gateway_oidc_client_id:
            return None
        return cls(settings)

    @property
    def display_name(self) -> str:
        """The issuer as the sign-in button names it (its host, and port when not the default)."""
        return urlsplit(self.issuer).netloc or self.issuer

    async def aclose(self) -> None:
        """Close the HTTP client the client created."""
        if self._owns_http:
            await self._http.aclose()

    def redirect_uri(self, request_base_url: str) -> str:
        """The callback's absolute URL: under ``GATEWAY_PUBLIC_URL``, else under the request's base URL."""
        return (self.public_url or request_base_url.rstrip("/")) + FLOW_PATH

    # --- discovery ---------------------------------------------------------------------------------------------

    async def metadata(self) -> ProviderMetadata:
        """The issuer's metadata, from cache when younger than ``DISCOVERY_TTL_S``.

        Raises:
            SignInError: The discovery document cannot be fetched (503) or is unusable (502).
        """
        cached = self._metadata
        if cached is not None and self._monotonic() - self._fetched_at < DISCOVERY_TTL_S:
            return cached
        async with self._lock:
            if self._metadata is not cached:
                assert self._metadata is not None
                return self._metadata
            try:
                fresh = self._parse_metadata(await self._get_json(self.issuer + DISCOVERY_PATH))
            except SignInError:
                if cached is not None:  # keep serving the last good document
                    return cached
                raise
            if self._verifier is None or (cached is not None and cached.jwks_uri != fresh.jwks_uri):
                self._verifier = JwtVerifier(
                    self.client_id,
                    issuer=self.issuer,
                    jwks_url=fresh.jwks_uri,
                    clock_skew_s=self._settings.auth_clock_skew_s,
                    refresh_min_s=self._settings.auth_jwks_refresh_min_s,
                    http=self._http,
                )
            self._metadata, self._fetched_at = fresh, self._monotonic()
            return fresh

    def _parse_metadata(self, document: Any) -> ProviderMetadata:
        if not isinstance(document, dict):
            raise _provider_broken("its discovery document is not a JSON object")
        issuer = document.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.issuer:
            raise _provider_broken(f"its discovery document names the issuer {str(issuer)[:200]!r}")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not _http_url(document.get(name)):
                raise _provider_broken(f"its discovery document has no {name}")
        challenge_methods = document.get("code_challenge_methods_supported")
        if isinstance(challenge_methods, list) and PKCE_METHOD not in challenge_methods:
            raise SignInError(
                "The identity provider does not support PKCE with S256, which the console requires.",
                502,
                "pkce_unsupported",
            )
        response_types = document.get("response_types_supported")
        if isinstance(response_types, list) and "code" not in response_types:
            raise _provider_broken("it does not offer the authorization code flow")
        methods = document.get("token_endpoint_auth_methods_supported")
        return ProviderMetadata(
            issuer=self.issuer,
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            token_endpoint_auth_methods=(
                tuple(m for m in methods if isinstance(m, str))
                if isinstance(methods, list)
                else ("client_secret_basic",)  # the default of OpenID Connect Discovery
            ),
        )

    async def _get_json(self, url: str) -> Any:
        try:
            response = await self._http.get(url, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            log.warning("oidc_discovery_failed", issuer=self.issuer, error=type(exc).__name__)
            raise SignInError(
                "The identity provider cannot be reached; try again later.", 503, "provider_unreachable"
            ) from None
        if response.status_code != 200:
            raise _provider_broken(f"its discovery document answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise _provider_broken("its discovery document is not JSON") from None

    # --- the flow ----------------------------------------------------------------------------------------------

    async def authorization_url(self, flow: SignInFlow) -> str:
        """Where the browser goes to sign in: the authorization endpoint with the flow's request (RFC 6749 4.1.1,
        RFC 7636 4.3, OpenID Connect Core 3.1.2.1)."""
        endpoint = (await self.metadata()).authorization_endpoint
        parts = urlsplit(endpoint)
        query = [
            *parse_qsl(parts.query, keep_blank_values=True),
            ("response_type", "code"),
            ("client_id", self.client_id),
            ("redirect_uri", flow.redirect_uri),
            ("scope", self.scopes),
            ("state", flow.state),
            ("nonce", flow.nonce),
            ("code_challenge", code_challenge(flow.code_verifier)),
            ("code_challenge_method", PKCE_METHOD),
        ]
        return urlunsplit(parts._replace(query=urlencode(query)))

    async def sign_in(self, code: str, flow: SignInFlow) -> SignedIn:
        """Exchange the authorization code, verify the ID token and choose the credential to forward.

        Raises:
            SignInError: The provider refused the code or failed, or the ID token does not verify.
        """
        metadata = await self.metadata()
        tokens = await self._exchange(metadata, code, flow)
        id_token, access_token = tokens["id_token"], tokens.get("access_token")
        claims = await self.verify_id_token(id_token, flow.nonce, access_token)
        now = self._clock()
        if isinstance(access_token, str) and looks_like_jwt(access_token):
            expires_in = tokens.get("expires_in")
            lifetime = expires_in if isinstance(expires_in, int) else _unverified_exp(access_token) - now
            credential, kind = access_token, "access_token"
        else:
            credential, kind, lifetime = id_token, "id_token", claims["exp"] - now
        return SignedIn(credential, kind, max(1, min(MAX_AGE_S, int(lifetime))), str(claims["sub"]))

    async def _exchange(self, metadata: ProviderMetadata, code: str, flow: SignInFlow) -> dict[str, Any]:
        """The token request (RFC 6749 4.1.3 with the PKCE ``code_verifier``; client authentication as the
        provider advertises when a secret is set, else the public client's ``client_id``)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flow.redirect_uri,
            "code_verifier": flow.code_verifier,
        }
        headers = {"accept": "application/json"}
        if self._secret is None:
            form["client_id"] = self.client_id
        elif "client_secret_basic" in metadata.token_endpoint_auth_methods:
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}"  # RFC 6749 2.3.1
            headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif "client_secret_post" in metadata.token_endpoint_auth_methods:
            form |= {"client_id": self.client_id, "client_secret": self._secret}
        else:
            raise _provider_broken("it accepts neither client_secret_basic nor client_secret_post")
        try:
            response = await self._http.post(metadata.token_endpoint, data=form, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("oidc_token_request_failed", issuer=self.issuer, error=type(exc).__name__)
            raise SignInError(
                "The identity provider cannot be reached; try again later.", 503, "provider_unreachable"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            if 400 <= response.status_code < 500 and isinstance(error, str):
                log.warning("oidc_code_refused", issuer=self.issuer, error=error[:100])
                raise SignInError(
                    f"The identity provider refused to complete the sign-in ({error[:100]}); start again.",
                    400,
                    "code_refused",
                )
            raise _provider_broken(f"its token endpoint answered HTTP {response.status_code}")
        if not isinstance(body.get("id_token"), str):
            raise _provider_broken("it issued no ID token (is 'openid' among the scopes?)")
        token_type = body.get("token_type")
        if body.get("access_token") is not None and str(token_type).lower() != "bearer":
            raise _provider_broken(f"it issued a {str(token_type)[:30]!r} token, not a Bearer token")
        return body

    async def verify_id_token(
        self, id_token: str, nonce: str, access_token: str | None = None
    ) -> dict[str, Any]:
        """The claims of an ID token that verifies (OpenID Connect Core 3.1.3.7): signature, ``iss``, ``aud``
        and ``exp`` through ``JwtVerifier``; then ``nonce`` (constant-time), ``azp``, ``sub`` and, when the token
        carries it, ``at_hash`` against the access token.

        Raises:
            SignInError: The ID token does not verify (401).
        """
        await self.metadata()
        assert self._verifier is not None
        try:
            claims = await self._verifier.claims(id_token)
        except Unauthenticated as exc:
            raise _bad_id_token(exc.message, exc.reason) from None
        claimed = claims.get("nonce")
        if not isinstance(claimed, str) or not hmac.compare_digest(claimed.encode(), nonce.encode()):
            raise _bad_id_token("its nonce is not the one this sign-in sent (a replayed token?)", "bad_nonce")
        audiences = claims.get("aud")
        azp = claims.get("azp")
        several = isinstance(audiences, list) and len(audiences) > 1
        if (several or azp is not None) and azp != self.client_id:
            raise _bad_id_token("it was issued to another client (azp)", "bad_azp")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise _bad_id_token("it has no subject (sub)", "missing_subject")
        if not isinstance(claims.get("exp"), int | float):
            raise _bad_id_token("it has no expiry (exp)", "missing_claim")
        at_hash = claims.get("at_hash")
        if at_hash is not None and access_token is not None:
            alg = str(jwt.get_unverified_header(id_token).get("alg", ""))
            digest = (hashlib.sha512 if alg == "EdDSA" else _SHA.get(alg[-3:], hashlib.sha256))(
                access_token.encode()
            ).digest()
            if not hmac.compare_digest(str(at_hash).encode(), _b64url(digest[: len(digest) // 2]).encode()):
                raise _bad_id_token("its at_hash does not match the access token", "bad_at_hash")
        return claims


def _unverified_exp(token: str) -> float:
    """The ``exp`` of a JWT that the supervisor verifies (only the session cookie's lifetime depends on it)."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt_errors.PyJWTError:
        exp = None
    return float(exp) if isinstance(exp, int | float) else time.time() + MAX_AGE_S


def _provider_broken(what: str) -> SignInError:
    log.warning("oidc_provider_unusable", problem=what)
    return SignInError(f"The identity provider cannot be used: {what}.", 502, "provider_unusable")


def _bad_id_token(what: str, reason: str) -> SignInError:
    log.warning("oidc_id_token_refused", reason=reason)
    return SignInError(f"The identity provider's ID token was refused: {what}.", 401, reason)
