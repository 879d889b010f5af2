"""OAuth2 access tokens (JWT) of an OpenID issuer: signature against the issuer's published keys, then claims.

Keys come from the issuer's discovery document (``<AUTH_ISSUER>/.well-known/openid-configuration`` ->
``jwks_uri``) or straight from ``AUTH_JWKS_URL``. They are fetched on first use and cached; a token naming a key id
the cache does not hold triggers one refetch (at most once per ``AUTH_JWKS_REFRESH_MIN_S``, concurrent refreshes
share one request); keys older than an hour are refetched by the next call (and kept if that fails). Only
asymmetric algorithms are accepted, and only the algorithm(s) of the key that signed the token: ``alg: none``, HMAC
(including HMAC keyed with the issuer's public key) and a key used with another key type's algorithm are refused
before any signature is computed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from jwt import exceptions as jwt_errors

from common.auth.principal import AuthMethod, Principal, valid_tenant_id
from common.config import Settings
from common.errors import ConfigError, Unauthenticated
from common.logging import get_logger

log = get_logger(__name__)

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
ACCEPTED_ALGORITHMS = RSA_ALGORITHMS | {"ES256", "ES384", "EdDSA"}
"""The JWS algorithms a token may be signed with: asymmetric ones only."""

_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384"}
_OKP_CURVES = frozenset({"Ed25519", "Ed448"})
_DISCOVERY_PATH = "/.well-known/openid-configuration"
_RETRY_AFTER_FAILURE_S = 1.0  # a failed fetch with no keys cached is retried at most this often


@dataclass(frozen=True)
class SigningKey:
    """One public key of the issuer, with the algorithms it may verify."""

    kid: str | None
    algorithms: frozenset[str]
    key: Any  # a cryptography public key object


class KeysUnavailable(Exception):
    """The issuer's keys could not be fetched or understood."""


def key_algorithms(jwk: Mapping[str, Any]) -> frozenset[str]:
    """The accepted algorithms a JWK may verify: its own ``alg`` when it names one, else its key type's family.

    Symmetric (``oct``) keys, unknown key types and curves, and keys published for encryption get none.
    """
    kty, crv, alg = jwk.get("kty"), jwk.get("crv"), jwk.get("alg")
    if jwk.get("use", "sig") != "sig":
        return frozenset()
    family: frozenset[str] = frozenset()
    if kty == "RSA":
        family = RSA_ALGORITHMS
    elif kty == "EC" and crv in _EC_ALGORITHMS:
        family = frozenset({_EC_ALGORITHMS[crv]})
    elif kty == "OKP" and crv in _OKP_CURVES:
        family = frozenset({"EdDSA"})
    return family & {alg} if alg else family


def parse_jwks(document: Any) -> tuple[SigningKey, ...]:
    """The usable signing keys of a JWKS document (``{"keys": [...]}``); unusable entries are skipped.

    Raises:
        KeysUnavailable: The document is not a JWKS, or holds no usable key.
    """
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise KeysUnavailable("the JWKS document has no 'keys' list")
    keys = []
    for entry in entries:
        algorithms = key_algorithms(entry) if isinstance(entry, dict) else frozenset()
        if not algorithms:
            continue
        try:
            parsed = jwt.PyJWK(entry, algorithm=min(algorithms))
        except jwt_errors.PyJWTError as exc:
            log.warning("jwks_key_skipped", kid=entry.get("kid"), error=str(exc))
            continue
        kid = entry.get("kid")
        keys.append(SigningKey(kid if isinstance(kid, str) else None, algorithms, parsed.key))
    if not keys:
        raise KeysUnavailable("the JWKS document holds no usable asymmetric signing key")
    return tuple(keys)


def _pick(keys: Sequence[SigningKey], kid: str | None) -> SigningKey | None:
    """The key a token names; a token without ``kid`` may only use a set of exactly one key."""
    if kid is None:
        return keys[0] if len(keys) == 1 else None
    return next((key for key in keys if key.kid == kid), None)


class JwtVerifier:
    """Verifies OAuth2 access tokens of one issuer and turns them into principals.

    Args:
        audience: The ``aud`` tokens must carry (``AUTH_AUDIENCE``).
        issuer: The issuer (``AUTH_ISSUER``): its discovery document gives the keys and tokens' ``iss`` must
            equal it. Optional when ``jwks_url`` is given (then ``iss`` is not checked).
        jwks_url: The JWKS document (``AUTH_JWKS_URL``); takes precedence over discovery for the keys.
        tenant_claim: The claim holding the tenant id (``AUTH_TENANT_CLAIM``).
        clock_skew_s: Leeway for ``exp``, ``nbf`` and ``iat`` (``AUTH_CLOCK_SKEW_S``).
        refresh_min_s: Minimum interval between two key fetches for unknown key ids
            (``AUTH_JWKS_REFRESH_MIN_S``).
        max_key_age_s: Cached keys older than this are refetched on the next call (kept if that fails).
        timeout_s: Timeout of each HTTP request for keys.
        http: The HTTP client to use (owned by the caller); one is created (and owned) otherwise.
        monotonic: The clock of the cache (tests move it).
    """

    def __init__(
        self,
        audience: str,
        *,
        issuer: str | None = None,
        jwks_url: str | None = None,
        tenant_claim: str = "tenant_id",
        clock_skew_s: float = 60.0,
        refresh_min_s: float = 30.0,
        max_key_age_s: float = 3600.0,
        timeout_s: float = 3.0,
        http: httpx.AsyncClient | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not issuer and not jwks_url:
            raise ConfigError("JWT verification needs AUTH_ISSUER or AUTH_JWKS_URL")
        if not audience:
            raise ConfigError("JWT verification needs AUTH_AUDIENCE")
        self.audience = audience
        self.issuer = issuer.rstrip("/") if issuer else None
        self._jwks_url = jwks_url
        self._discovered_jwks_url: str | None = None
        self._tenant_claim = tenant_claim
        self._skew = clock_skew_s
        self._refresh_min_s = refresh_min_s
        self._max_key_age_s = max_key_age_s
        self._timeout = httpx.Timeout(timeout_s)
        self._http = http
        self._owns_http = http is None
        self._monotonic = monotonic
        self._keys: tuple[SigningKey, ...] | None = None
        self._loaded_at = 0.0
        self._attempted_at: float | None = None
        self._last_attempt_failed = False
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many times the keys were fetched (successfully or not)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtVerifier | None:
        """The verifier the settings describe, or None when neither AUTH_ISSUER nor AUTH_JWKS_URL is set."""
        if not settings.auth_issuer and not settings.auth_jwks_url:
            return None
        return cls(
            settings.auth_audience or "",
            issuer=settings.auth_issuer,
            jwks_url=settings.auth_jwks_url,
            tenant_claim=settings.auth_tenant_claim,
            clock_skew_s=settings.auth_clock_skew_s,
            refresh_min_s=settings.auth_jwks_refresh_min_s,
        )

    async def aclose(self) -> None:
        """Close the HTTP client the verifier created."""
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = None

    async def verify(self, token: str) -> Principal:
        """The principal an access token establishes.

        Raises:
            Unauthenticated: The token is malformed, signed with a refused algorithm or an unknown key, has a bad
                signature, is expired or not yet valid, lacks ``exp``, is for another issuer or audience, or names
                no valid tenant or subject; or the issuer's keys are unavailable (reason ``keys_unavailable``).
        """
        return self._principal(await self.claims(token))

    async def claims(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature, algorithm, ``exp``/``nbf``/``iat``, ``iss`` and ``aud`` verify
        (the gateway checks the console's OpenID Connect ID tokens with it; ``verify`` adds tenant and subject).

        Raises:
            Unauthenticated: As ``verify``, except for the tenant and subject checks.
        """
        kid, algorithm = _header(token)
        key = await self._key_for(kid)
        if algorithm not in key.algorithms:
            raise Unauthenticated(
                f"the token's algorithm {algorithm} is not the algorithm of its key "
                f"({', '.join(sorted(key.algorithms))})",
                "bad_algorithm",
            )
        return self._decode(token, key, algorithm)

    # --- claims ------------------------------------------------------------------------------------------------

    def _decode(self, token: str, key: SigningKey, algorithm: str) -> dict[str, Any]:
        issuers = [self.issuer, f"{self.issuer}/"] if self.issuer else None
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=issuers,
                leeway=self._skew,
                options={"require": ["exp"], "verify_signature": True},
            )
        except jwt_errors.PyJWTError as exc:
            raise _rejection(exc, self.audience, self.issuer) from None

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        tenant = claims.get(self._tenant_claim)
        if tenant is None or tenant == "":
            raise Unauthenticated(f"the token has no tenant claim '{self._tenant_claim}'", "missing_tenant")
        if not isinstance(tenant, str) or not valid_tenant_id(tenant):
            raise Unauthenticated(
                f"the token's tenant claim '{self._tenant_claim}' is not a valid tenant id", "bad_tenant"
            )
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated("the token has no subject (sub)", "missing_subject")
        return Principal(tenant, subject, token_scopes(claims), AuthMethod.JWT)

    # --- keys --------------------------------------------------------------------------------------------------

    async def _key_for(self, kid: str | None) -> SigningKey:
        keys = self._keys
        if keys is None:
            keys = await self._refresh(seen=None, interval=min(self._refresh_min_s, _RETRY_AFTER_FAILURE_S))
            if keys is None:
                raise _keys_unavailable()
        elif self._monotonic() - self._loaded_at >= self._max_key_age_s:
            keys = await self._refresh(seen=keys, interval=self._refresh_min_s) or keys
        key = _pick(keys, kid)
        if key is None and kid is not None:
            keys = await self._refresh(seen=keys, interval=self._refresh_min_s) or keys
            key = _pick(keys, kid)
            if key is None and self._last_attempt_failed:
                raise _keys_unavailable()
        if key is None:
            named = f"key id {kid[:64]!r}" if kid else "no key id, and the issuer publishes several keys"
            raise Unauthenticated(f"the token names {named}: not a signing key of the issuer", "unknown_key")
        return key

    async def _refresh(
        self, *, seen: tuple[SigningKey, ...] | None, interval: float
    ) -> tuple[SigningKey, ...] | None:
        """Fetch the keys unless another call did since ``seen`` was read, or one was tried within ``interval``.

        Concurrent callers wait on one fetch. Returns the keys now cached (None when none ever loaded).
        """
        async with self._lock:
            if self._keys is not seen:
                return self._keys
            now = self._monotonic()
            if self._attempted_at is not None and now - self._attempted_at < interval:
                return self._keys
            self._attempted_at = now
            self.fetches += 1
            try:
                self._keys = await self._fetch_keys()
            except KeysUnavailable as exc:
                self._last_attempt_failed = True
                self._discovered_jwks_url = None
                log.error("jwks_unavailable", issuer=self.issuer, jwks_url=self._jwks_url, error=str(exc))
                return self._keys
            self._last_attempt_failed = False
            self._loaded_at = self._monotonic()
            log.info("jwks_loaded", issuer=self.issuer, keys=[k.kid for k in self._keys])
            return self._keys

    async def _fetch_keys(self) -> tuple[SigningKey, ...]:
        url = self._jwks_url or self._discovered_jwks_url or await self._discover()
        return parse_jwks(await self._get_json(url))

    async def _discover(self) -> str:
        assert self.issuer is not None
        document = await self._get_json(self.issuer + _DISCOVERY_PATH)
        if not isinstance(document, dict):
            raise KeysUnavailable("the discovery document is not a JSON object")
        issuer, jwks_uri = document.get("issuer"), document.get("jwks_uri")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.issuer:
            raise KeysUnavailable(f"the discovery document names issuer {issuer!r}, not {self.issuer!r}")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise KeysUnavailable("the discovery document has no jwks_uri")
        self._discovered_jwks_url = jwks_uri
        return jwks_uri

    async def _get_json(self, url: str) -> Any:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout, follow_redirects=True, max_redirects=3)
        try:
            response = await self._http.get(
                url, headers={"accept": "application/json"}, timeout=self._timeout
            )
            response.raise_for_status()
            return response.json()
        except httpx.HTTPStatusError as exc:
            raise KeysUnavailable(f"GET {url} answered HTTP {exc.response.status_code}") from exc
        except httpx.HTTPError as exc:
            raise KeysUnavailable(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
        except ValueError as exc:
            raise KeysUnavailable(f"GET {url} did not answer JSON") from exc


def token_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """The scopes of a token: ``scope`` (space-separated) and ``scp`` (a list, or a space-separated string)."""
    scopes: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(item for item in value if isinstance(item, str) and item)
    return frozenset(scopes)


def _header(token: str) -> tuple[str | None, str]:
    """The ``kid`` and ``alg`` of a token's header, refusing algorithms outside ``ACCEPTED_ALGORITHMS``."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt_errors.PyJWTError:
        raise Unauthenticated("the bearer token is not a well-formed JWT", "malformed_token") from None
    algorithm, kid = header.get("alg"), header.get("kid")
    if not isinstance(algorithm, str) or algorithm not in ACCEPTED_ALGORITHMS:
        shown = algorithm if isinstance(algorithm, str) else "missing"
        raise Unauthenticated(
            f"the token's algorithm ({shown[:20]}) is refused: only "
            f"{', '.join(sorted(ACCEPTED_ALGORITHMS))} are accepted",
            "bad_algorithm",
        )
    if kid is not None and not isinstance(kid, str):
        raise Unauthenticated("the token's key id (kid) is not a string", "malformed_token")
    return kid, algorithm


def _keys_unavailable() -> Unauthenticated:
    return Unauthenticated(
        "the token issuer's signing keys are unavailable; try again later", "keys_unavailable"
    )


def _rejection(exc: jwt_errors.PyJWTError, audience: str, issuer: str | None) -> Unauthenticated:
    """The error a failed decode answers, with a reason per failure."""
    if isinstance(exc, jwt_errors.MissingRequiredClaimError):
        reasons = {"aud": "bad_audience", "iss": "bad_issuer"}
        return Unauthenticated(
            f"the token has no '{exc.claim}' claim", reasons.get(exc.claim, "missing_claim")
        )
    rejections: list[tuple[type[jwt_errors.PyJWTError], str, str]] = [
        (jwt_errors.ExpiredSignatureError, "token_expired", "the token has expired (exp)"),
        (jwt_errors.ImmatureSignatureError, "token_not_yet_valid", "the token is not valid yet (nbf/iat)"),
        (jwt_errors.InvalidAudienceError, "bad_audience", f"the token's audience (aud) is not {audience!r}"),
        (jwt_errors.InvalidIssuerError, "bad_issuer", f"the token's issuer (iss) is not {issuer!r}"),
        (jwt_errors.InvalidSignatureError, "bad_signature", "the token's signature does not verify"),
        (jwt_errors.InvalidSubjectError, "missing_subject", "the token's subject (sub) is not a string"),
        (jwt_errors.InvalidAlgorithmError, "bad_algorithm", "the token's algorithm is refused"),
        (jwt_errors.DecodeError, "malformed_token", "the bearer token is not a well-formed JWT"),
    ]
    for kind, reason, message in rejections:
        if isinstance(exc, kind):
            return Unauthenticated(message, reason)
    return Unauthenticated(f"the token is invalid: {type(exc).__name__}", "invalid_token")
