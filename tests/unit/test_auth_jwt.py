"""JwtVerifier: the tokens it accepts and every token it refuses, against keys served by a loopback issuer."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from common.auth.jwt_tokens import JwtVerifier, key_algorithms, parse_jwks, token_scopes
from common.auth.principal import AuthMethod
from common.config import load_settings
from common.errors import ConfigError, Unauthenticated
from tests.fakes.http_api import Response
from tests.fakes.oidc import (
    FakeIssuer,
    SigningKey,
    claims_for,
    ec_key,
    ed25519_key,
    hmac_token,
    rsa_key,
    unsigned_token,
)

AUDIENCE = "marketing-api"

RSA = rsa_key("rsa-1", "RS256")
EC = ec_key("ec-1", "ES256")
KEYS: dict[str, SigningKey] = {
    "RS256": RSA,
    "RS512": rsa_key("rsa-512", "RS512"),
    "PS256": rsa_key("rsa-pss", "PS256"),
    "ES256": EC,
    "ES384": ec_key("ec-384", "ES384"),
    "EdDSA": ed25519_key("ed-1"),
    "RS384-unnamed": rsa_key("rsa-no-alg", "RS384", publish_alg=False),
}


IMPOSTOR = rsa_key("rsa-1")  # the kid of the issuer's key, another private key
STRANGER = rsa_key("rsa-unknown")
NO_KID = rsa_key(kid=None)
EC_IMPERSONATOR = rsa_key(EC.kid)  # an RSA key claiming the kid of the issuer's EC key


@pytest.fixture(scope="module")
def issuer() -> Iterator[FakeIssuer]:
    with FakeIssuer(list(KEYS.values())) as fake:
        yield fake


@pytest.fixture(scope="module")
def spare_server() -> Iterator[FakeIssuer]:
    with FakeIssuer([RSA]) as fake:
        yield fake


@pytest.fixture
def spare(spare_server: FakeIssuer) -> FakeIssuer:
    """A second issuer a test may reconfigure (reset for each test)."""
    spare_server.keys = [RSA]
    spare_server.discovery_issuer = None
    spare_server.jwks_response = None
    return spare_server


@pytest.fixture
async def verifier(issuer: FakeIssuer) -> AsyncIterator[JwtVerifier]:
    verifier = JwtVerifier(AUDIENCE, issuer=issuer.issuer, clock_skew_s=60)
    yield verifier
    await verifier.aclose()


def claims(issuer: FakeIssuer, **overrides: Any) -> dict[str, Any]:
    return claims_for(issuer.issuer, AUDIENCE, **overrides)


async def refusal(verifier: JwtVerifier, token: str) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)
    return caught.value


# --- accepted -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KEYS))
async def test_a_token_signed_by_each_kind_of_issuer_key_gives_its_principal(
    verifier: JwtVerifier, issuer: FakeIssuer, name: str
) -> None:
    token = KEYS[name].sign(claims(issuer, tenant="acme", sub="alice", scope="marketing.tasks.read"))
    principal = await verifier.verify(token)
    assert principal.tenant_id == "acme"
    assert principal.subject == "alice"
    assert principal.scopes == {"marketing.tasks.read"}
    assert principal.method is AuthMethod.JWT
    assert principal.actor == "jwt:alice"


async def test_an_rsa_key_without_a_published_alg_verifies_rs_and_ps_algorithms(
    verifier: JwtVerifier, issuer: FakeIssuer
) -> None:
    key = KEYS["RS384-unnamed"]
    for algorithm in ("RS256", "PS512"):
        assert (await verifier.verify(key.sign(claims(issuer), alg=algorithm))).tenant_id == "acme"


async def test_audience_may_be_a_list_and_scopes_come_from_scope_or_scp(
    verifier: JwtVerifier, issuer: FakeIssuer
) -> None:
    token = RSA.sign(
        claims(
            issuer, aud=["other-api", AUDIENCE], scope=None, scp=["marketing.admin", "marketing.tasks.read"]
        )
    )
    principal = await verifier.verify(token)
    assert principal.scopes == {"marketing.admin", "marketing.tasks.read"}
    assert token_scopes({"scp": "a b", "scope": "c"}) == {"a", "b", "c"}
    assert token_scopes({"scp": [1, "", "a"]}) == {"a"}
    assert token_scopes({}) == frozenset()


async def test_clock_skew_is_tolerated_both_ways(verifier: JwtVerifier, issuer: FakeIssuer) -> None:
    now = int(time.time())
    expired_lately = RSA.sign(claims(issuer, exp=now - 30))
    valid_soon = RSA.sign(claims(issuer, nbf=now + 30, iat=now + 30))
    assert (await verifier.verify(expired_lately)).subject == "alice"
    assert (await verifier.verify(valid_soon)).subject == "alice"


async def test_an_issuer_with_a_trailing_slash_in_the_token_matches(
    verifier: JwtVerifier, issuer: FakeIssuer
) -> None:
    assert (await verifier.verify(RSA.sign(claims(issuer, iss=issuer.issuer + "/")))).tenant_id == "acme"


async def test_a_token_without_kid_uses_the_only_key_of_a_one_key_set(spare: FakeIssuer) -> None:
    spare.keys = [NO_KID]
    verifier = JwtVerifier(AUDIENCE, jwks_url=spare.jwks_url)
    try:
        assert (await verifier.verify(NO_KID.sign(claims(spare)))).tenant_id == "acme"
    finally:
        await verifier.aclose()


# --- refused ------------------------------------------------------------------------------------------------------


Forgery = Callable[[dict[str, Any]], str]
"""Makes a bad token from valid claims (or from the overrides it applies)."""


def _with(forge: Callable[[dict[str, Any]], str] = RSA.sign, **overrides: Any) -> Forgery:
    return lambda ok: forge(claims_for(ok["iss"], AUDIENCE, **overrides) if overrides else ok)


def _tamper(token: str) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{unsigned_token({'sub': 'mallory', 'tenant_id': 'acme'}).split('.')[1]}.{signature}"


NOW = int(time.time())  # at collection: the future claims are days ahead, the suite runs long
FORGERIES: dict[str, tuple[Forgery, str]] = {
    "expired": (_with(exp=NOW - 120), "token_expired"),
    "not yet valid (nbf)": (_with(nbf=NOW + 10 * 86400), "token_not_yet_valid"),
    "issued in the future (iat)": (_with(iat=NOW + 10 * 86400), "token_not_yet_valid"),
    "no exp": (_with(exp=None), "missing_claim"),
    "another issuer": (_with(iss="https://evil.example"), "bad_issuer"),
    "no issuer": (_with(iss=None), "bad_issuer"),
    "another audience": (_with(aud="other-api"), "bad_audience"),
    "another audience list": (_with(aud=["a", "b"]), "bad_audience"),
    "no audience": (_with(aud=None), "bad_audience"),
    "no tenant": (_with(tenant=None), "missing_tenant"),
    "invalid tenant": (_with(tenant="Acme Corp!"), "bad_tenant"),
    "tenant not a string": (_with(tenant_id=["acme"]), "bad_tenant"),
    "no subject": (_with(sub=None), "missing_subject"),
    "subject not a string": (lambda ok: RSA.sign({**ok, "sub": 42}), "missing_subject"),
    "bad signature": (_with(IMPOSTOR.sign), "bad_signature"),
    "tampered claims": (lambda ok: _tamper(RSA.sign(ok)), "bad_signature"),
    "alg none": (unsigned_token, "bad_algorithm"),
    "alg none with a known kid": (lambda ok: unsigned_token(ok, kid="rsa-1"), "bad_algorithm"),
    "HS256 keyed with the public key": (
        lambda ok: hmac_token(ok, RSA.public_pem(), kid="rsa-1"),
        "bad_algorithm",
    ),
    "HS256 keyed with the public JWK": (
        lambda ok: hmac_token(ok, json.dumps(RSA.public_jwk()).encode()),
        "bad_algorithm",
    ),
    "an EC key's kid claimed for RS256": (EC_IMPERSONATOR.sign, "bad_algorithm"),
    "an RS256 key used with PS256": (lambda ok: RSA.sign(ok, alg="PS256"), "bad_algorithm"),
    "unknown kid": (STRANGER.sign, "unknown_key"),
    "no kid, several keys": (NO_KID.sign, "unknown_key"),
    "not a JWT": (lambda ok: "not-a-jwt", "malformed_token"),
    "garbage segments": (lambda ok: "eyJhbGciOiJSUzI1NiJ9.@@@.###", "malformed_token"),
}


@pytest.mark.parametrize("case", list(FORGERIES))
async def test_each_bad_token_is_refused_with_its_reason(
    verifier: JwtVerifier, issuer: FakeIssuer, case: str
) -> None:
    forge, reason = FORGERIES[case]
    error = await refusal(verifier, forge(claims(issuer)))
    assert error.reason == reason, error.message
    assert error.message and "eyJ" not in error.message  # precise, and never echoes the token


async def test_refusal_messages_name_what_is_wrong(verifier: JwtVerifier, issuer: FakeIssuer) -> None:
    async def message(case: str) -> str:
        return (await refusal(verifier, FORGERIES[case][0](claims(issuer)))).message

    assert "HS256" in await message("HS256 keyed with the public key")
    assert "none" in await message("alg none")
    assert AUDIENCE in await message("another audience")
    assert "'exp'" in await message("no exp")
    assert "rsa-unknown" in await message("unknown kid")
    assert "tenant_id" in await message("no tenant")


async def test_the_tenant_claim_is_configurable(issuer: FakeIssuer) -> None:
    verifier = JwtVerifier(AUDIENCE, issuer=issuer.issuer, tenant_claim="https://marketing.example/tenant")
    try:
        token = RSA.sign(claims(issuer, tenant=None, **{"https://marketing.example/tenant": "globex"}))
        assert (await verifier.verify(token)).tenant_id == "globex"
        assert (await refusal(verifier, RSA.sign(claims(issuer)))).reason == "missing_tenant"
    finally:
        await verifier.aclose()


# --- keys unavailable ---------------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_key_endpoint_answers_keys_unavailable_and_is_logged() -> None:
    verifier = JwtVerifier(AUDIENCE, jwks_url=f"http://127.0.0.1:{_closed_port()}/jwks", timeout_s=1)
    try:
        with capture_logs() as logs:
            error = await refusal(verifier, RSA.sign(claims_for("x", AUDIENCE)))
        assert error.reason == "keys_unavailable"
        assert [e for e in logs if e["event"] == "jwks_unavailable" and e["log_level"] == "error"]
    finally:
        await verifier.aclose()


BROKEN_ISSUERS: dict[str, Callable[[FakeIssuer], None]] = {
    "discovery 500": lambda fake: fake.api.fail(500, {"error": "boom"}, path=r"/\.well-known/.*"),
    "discovery names another issuer": lambda fake: setattr(fake, "discovery_issuer", "https://elsewhere"),
    "jwks 503": lambda fake: fake.api.fail(503, path="/jwks"),
    "jwks not json": lambda fake: setattr(
        fake, "jwks_response", Response(raw=b"<html>", content_type="text/html")
    ),
    "jwks without usable keys": lambda fake: setattr(
        fake, "jwks_response", Response(body={"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "rsa-1"}]})
    ),
}


@pytest.mark.parametrize("problem", list(BROKEN_ISSUERS))
async def test_a_broken_issuer_answers_keys_unavailable(spare: FakeIssuer, problem: str) -> None:
    BROKEN_ISSUERS[problem](spare)
    verifier = JwtVerifier(AUDIENCE, issuer=spare.issuer)
    try:
        assert (await refusal(verifier, RSA.sign(claims(spare)))).reason == "keys_unavailable"
        assert verifier.fetches == 1
    finally:
        await verifier.aclose()


# --- keys and settings --------------------------------------------------------------------------------------------


def test_only_asymmetric_signing_keys_get_algorithms() -> None:
    assert key_algorithms({"kty": "oct", "k": "c2VjcmV0"}) == frozenset()
    assert key_algorithms({"kty": "oct", "alg": "HS256"}) == frozenset()
    assert key_algorithms({"kty": "RSA", "use": "enc"}) == frozenset()
    assert key_algorithms({"kty": "RSA", "alg": "HS256"}) == frozenset()
    assert key_algorithms({"kty": "RSA", "alg": "PS384"}) == {"PS384"}
    assert key_algorithms({"kty": "RSA"}) == {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    assert key_algorithms({"kty": "EC", "crv": "P-256"}) == {"ES256"}
    assert key_algorithms({"kty": "EC", "crv": "P-256", "alg": "ES384"}) == frozenset()
    assert key_algorithms({"kty": "EC", "crv": "P-521"}) == frozenset()
    assert key_algorithms({"kty": "OKP", "crv": "Ed25519"}) == {"EdDSA"}
    assert key_algorithms({"kty": "OKP", "crv": "X25519"}) == frozenset()


def test_parse_jwks_skips_unusable_entries_and_keeps_the_rest() -> None:
    document = {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}, "junk", {"kty": "RSA", "kid": "bad"}]}
    document["keys"].append(RSA.public_jwk())
    [key] = parse_jwks(document)
    assert key.kid == "rsa-1" and key.algorithms == {"RS256"}


def test_from_settings() -> None:
    assert JwtVerifier.from_settings(load_settings()) is None
    verifier = JwtVerifier.from_settings(
        load_settings(
            auth_issuer="https://id.example/",
            auth_audience="marketing-api",
            auth_tenant_claim="org",
            auth_clock_skew_s=5,
            auth_jwks_refresh_min_s=10,
        )
    )
    assert verifier is not None
    assert verifier.issuer == "https://id.example" and verifier.audience == "marketing-api"
    with pytest.raises(ConfigError):
        JwtVerifier("", issuer="https://id.example")
    with pytest.raises(ConfigError):
        JwtVerifier(AUDIENCE)
