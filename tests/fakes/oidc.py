"""Identity fakes: signing keys and tokens made here, an issuer serving discovery + JWKS, and a real OpenID provider.

- ``SigningKey`` (``rsa_key``, ``ec_key``, ``ed25519_key``): a key pair made with ``cryptography``; ``sign``
  makes a JWT with PyJWT, ``public_jwk`` is its JWKS entry. ``unsigned_token`` (``alg: none``) and
  ``hmac_token`` (HS256, e.g. keyed with the issuer's public key PEM) are the forgeries.
- ``FakeIssuer``: ``/.well-known/openid-configuration`` and ``/jwks`` on 127.0.0.1 (a ``FakeApi``), serving
  ``keys`` as they are at each request; every request is recorded, so tests count JWKS fetches.
- ``OidcProvider``: ``oidc-provider-mock`` (a Flask/authlib OpenID provider) in a thread on 127.0.0.1.
  Its access tokens are opaque; its ID tokens are RS256 JWTs signed with the key of its JWKS, with
  ``aud = [client_id]`` and every non-standard claim of the user (``tenant_id``, ``scope``...), which is what
  ``token`` returns (authorization code flow through its real endpoints). oidc-provider-mock 0.3.4 ignores PKCE
  (it registers no ``CodeChallenge`` extension), so ``PkceCheck`` wraps it: a code issued to an authorization
  request with a ``code_challenge`` is exchanged only with the matching ``code_verifier`` (RFC 7636 4.6).
  Its code grant authenticates clients only with a secret, so ``PkceCheck`` also admits public clients (no secret)
  whose code is PKCE-bound, as real providers do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.fakes.http_api import FakeApi, Recorded, Response

__all__ = [
    "FakeIssuer",
    "OidcProvider",
    "SigningKey",
    "claims_for",
    "ec_key",
    "ed25519_key",
    "hmac_token",
    "rsa_key",
    "unsigned_token",
]


@dataclass
class SigningKey:
    """A private key, the ``kid`` and ``alg`` it signs with."""

    kid: str | None
    alg: str
    private: Any
    publish_alg: bool = True  # whether the JWKS entry names its "alg"

    def public_jwk(self) -> dict[str, Any]:
        """The key's JWKS entry."""
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        jwk = {**jwk, "use": "sig"}
        if self.kid is not None:
            jwk["kid"] = self.kid
        if self.publish_alg:
            jwk["alg"] = self.alg
        return jwk

    def public_pem(self) -> bytes:
        """The public key as PEM (what an attacker would use as an HMAC secret)."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(
        self, claims: Mapping[str, Any], *, alg: str | None = None, headers: dict[str, Any] | None = None
    ) -> str:
        """A JWT of these claims, signed with this key (with its ``kid`` in the header unless None)."""
        header = {"kid": self.kid} if self.kid is not None else {}
        return jwt.encode(
            dict(claims), self.private, algorithm=alg or self.alg, headers={**header, **(headers or {})}
        )


def rsa_key(kid: str | None = "rsa-1", alg: str = "RS256", *, publish_alg: bool = True) -> SigningKey:
    """A 2048-bit RSA key."""
    return SigningKey(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=2048), publish_alg)


def ec_key(kid: str | None = "ec-1", alg: str = "ES256", *, publish_alg: bool = True) -> SigningKey:
    """A P-256 (ES256) or P-384 (ES384) key."""
    curve = ec.SECP384R1() if alg == "ES384" else ec.SECP256R1()
    return SigningKey(kid, alg, ec.generate_private_key(curve), publish_alg)


def ed25519_key(kid: str | None = "ed-1") -> SigningKey:
    """An Ed25519 (EdDSA) key."""
    return SigningKey(kid, "EdDSA", ed25519.Ed25519PrivateKey.generate())


def claims_for(
    issuer: str,
    audience: str | list[str],
    *,
    tenant: str | None = "acme",
    sub: str | None = "alice",
    scope: str | None = "marketing.tasks.read marketing.tasks.write",
    lifetime_s: int = 300,
    **extra: Any,
) -> dict[str, Any]:
    """Access token claims; ``extra`` adds or (with None) removes claims."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": issuer, "aud": audience, "iat": now, "exp": now + lifetime_s}
    if sub is not None:
        claims["sub"] = sub
    if tenant is not None:
        claims["tenant_id"] = tenant
    if scope is not None:
        claims["scope"] = scope
    for name, value in extra.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    return f"{_b64(json.dumps(dict(header)).encode())}.{_b64(json.dumps(dict(claims)).encode())}"


def unsigned_token(claims: Mapping[str, Any], kid: str | None = None) -> str:
    """An ``alg: none`` token (empty signature)."""
    header: dict[str, Any] = {"alg": "none", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    return _segments(header, claims) + "."


def hmac_token(claims: Mapping[str, Any], secret: bytes, kid: str | None = None) -> str:
    """An HS256 token keyed with ``secret`` (made by hand: PyJWT refuses a PEM public key as an HMAC secret)."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = _segments(header, claims)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@dataclass
class FakeIssuer:
    """An OpenID issuer on loopback serving discovery and a JWKS of ``keys`` (changeable at any time)."""

    keys: list[SigningKey]
    jwks_delay_s: float = 0.0
    discovery_issuer: str | None = None  # what discovery names as issuer (default: the real URL)
    jwks_response: Response | None = None  # answered instead of the keys' JWKS when set
    api: FakeApi = field(default_factory=FakeApi)

    def __post_init__(self) -> None:
        self.api.route("GET", r"/\.well-known/openid-configuration", self._discovery)
        self.api.route("GET", r"/jwks", self._jwks)

    @property
    def issuer(self) -> str:
        return self.api.url

    @property
    def jwks_url(self) -> str:
        return f"{self.api.url}/jwks"

    def jwks_fetches(self) -> int:
        """How many times the JWKS was requested."""
        return len(self.api.calls("GET", "/jwks"))

    def sign(self, claims: Mapping[str, Any], key: SigningKey | None = None) -> str:
        """A token signed with ``key`` (default: the first published key)."""
        return (key or self.keys[0]).sign(claims)

    def _discovery(self, request: Recorded, _: Any) -> Response:
        return Response(body={"issuer": self.discovery_issuer or self.issuer, "jwks_uri": self.jwks_url})

    def _jwks(self, request: Recorded, _: Any) -> Response:
        time.sleep(self.jwks_delay_s)
        if self.jwks_response is not None:
            return self.jwks_response
        return Response(body={"keys": [key.public_jwk() for key in self.keys]})

    def __enter__(self) -> FakeIssuer:
        self.api.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.stop()


class PkceCheck:
    """WSGI middleware in front of oidc-provider-mock: PKCE checked as RFC 7636 4.6 says. Codes issued to an
    authorization request that carried a ``code_challenge`` (S256 or plain) are remembered with it; their token
    request must bring the matching ``code_verifier``, else ``400 invalid_grant``; one without a client secret (a
    public client) is admitted. ``token_requests`` records each token request's form as sent and whether it carried
    HTTP Basic client authentication."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.challenges: dict[str, tuple[str, str]] = {}
        self.token_requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/oauth2/authorize" and method == "POST":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            challenge = query.get("code_challenge", [""])[0]
            challenge_method = query.get("code_challenge_method", ["plain"])[0]

            def remember(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                location = next((v for k, v in headers if k.lower() == "location"), "")
                code = parse_qs(urlsplit(location).query).get("code", [""])[0]
                if challenge and code:
                    with self._lock:
                        self.challenges[code] = (challenge, challenge_method)
                return start_response(status, headers, exc_info)

            return self.app(environ, remember)
        if path == "/oauth2/token" and method == "POST":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
            basic = environ.get("HTTP_AUTHORIZATION", "").lower().startswith("basic ")
            with self._lock:
                self.token_requests.append({**form, "basic_auth": basic})
                expected = self.challenges.pop(form.get("code", ""), None)
            if expected is not None and not _pkce_matches(form.get("code_verifier", ""), *expected):
                answer = json.dumps(
                    {"error": "invalid_grant", "error_description": "PKCE verification failed"}
                )
                start_response("400 Bad Request", [("content-type", "application/json")])
                return [answer.encode()]
            if expected is not None and not basic and "client_secret" not in form:
                # A public client (token_endpoint_auth_method "none") whose code PKCE binds: the mock's code grant
                # only knows client_secret_basic/post (and takes any secret), so it gets one here.
                body += b"&client_secret=public-client"
                environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        return self.app(environ, start_response)


def _pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    if method == "S256":
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    else:
        computed = verifier
    return bool(verifier) and hmac.compare_digest(computed, challenge)


class OidcProvider:
    """``oidc-provider-mock`` served on 127.0.0.1 in a background thread (behind ``PkceCheck``).

    Args:
        users: Claims per subject, e.g. ``{"alice": {"tenant_id": "acme", "scope": "marketing.tasks.read"}}``;
            non-standard claims land in the ID tokens.
    """

    def __init__(self, users: Mapping[str, Mapping[str, Any]]) -> None:
        self.users = users
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.pkce: PkceCheck | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> OidcProvider:
        import werkzeug.serving

        with warnings.catch_warnings():  # it imports authlib.jose, deprecated upstream
            import authlib.deprecate  # noqa: F401  (installs an "always" filter of its own, overridden next)

            warnings.simplefilter("ignore", DeprecationWarning)
            from oidc_provider_mock import User, app

        os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback
        users = [User(sub=sub, claims=dict(claims)) for sub, claims in self.users.items()]
        self.pkce = PkceCheck(app(user_claims=users))
        self._server = werkzeug.serving.make_server("127.0.0.1", 0, self.pkce, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(2)

    def token(self, sub: str, client_id: str) -> str:
        """A token the provider issues for ``sub`` to client ``client_id`` (its audience), through the
        authorization code flow: authorize (the provider's one-click consent form), then the token endpoint."""
        redirect_uri = "http://127.0.0.1/callback"
        with httpx.Client(base_url=self.issuer, timeout=10) as http:
            consent = http.post(
                "/oauth2/authorize",
                params={
                    "client_id": client_id,
                    "redirect_uri": redirect_uri,
                    "response_type": "code",
                    "scope": "openid",
                    "state": "s",
                    "nonce": os.urandom(8).hex(),
                },
                data={"sub": sub},
            )
            assert consent.status_code == 302, consent.text
            code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
            issued = http.post(
                "/oauth2/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "client_id": client_id,
                    "client_secret": "any",
                },
            )
            assert issued.status_code == 200, issued.text
            return str(issued.json()["id_token"])


@contextmanager
def oidc_provider(users: Mapping[str, Mapping[str, Any]]) -> Iterator[OidcProvider]:
    """An ``OidcProvider`` for the duration of the block."""
    with OidcProvider(users) as provider:
        yield provider
