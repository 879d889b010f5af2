"""JwtVerifier's key cache, counted on a loopback issuer: one fetch for many tokens, one refetch for a new kid,
refetches for unknown kids rate-limited, concurrent refreshes coalesced, stale keys refreshed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from common.auth.jwt_tokens import JwtVerifier
from common.errors import Unauthenticated
from tests.fakes.oidc import FakeIssuer, claims_for, ec_key, rsa_key

AUDIENCE = "marketing-api"
OLD = rsa_key("old")
NEW = ec_key("new")
UNKNOWN = [rsa_key(f"unknown-{n}") for n in range(3)]


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[FakeIssuer]:
    with FakeIssuer([OLD]) as fake:
        yield fake


@pytest.fixture
def issuer(server: FakeIssuer) -> FakeIssuer:
    server.keys = [OLD]
    server.jwks_delay_s = 0.0
    server.jwks_response = None
    server.api.requests.clear()
    return server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_verifier(clock: Clock) -> AsyncIterator[Callable[..., JwtVerifier]]:
    made: list[JwtVerifier] = []

    def make(issuer: FakeIssuer, **options: Any) -> JwtVerifier:
        options = {"refresh_min_s": 30.0, "monotonic": clock, **options}
        verifier = JwtVerifier(AUDIENCE, issuer=issuer.issuer, **options)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.aclose()


def token(issuer: FakeIssuer, key: Any = OLD, sub: str = "alice") -> str:
    return key.sign(claims_for(issuer.issuer, AUDIENCE, sub=sub))


def discoveries(issuer: FakeIssuer) -> int:
    return len(issuer.api.calls("GET", r"/\.well-known/openid-configuration"))


async def test_many_verifications_fetch_the_keys_once(issuer: FakeIssuer, make_verifier: Any) -> None:
    verifier = make_verifier(issuer)
    for n in range(30):
        await verifier.verify(token(issuer, sub=f"user-{n}"))
    await asyncio.gather(*(verifier.verify(token(issuer)) for _ in range(20)))
    assert issuer.jwks_fetches() == 1
    assert discoveries(issuer) == 1


async def test_concurrent_first_calls_share_one_fetch(issuer: FakeIssuer, make_verifier: Any) -> None:
    issuer.jwks_delay_s = 0.2
    verifier = make_verifier(issuer)
    principals = await asyncio.gather(*(verifier.verify(token(issuer)) for _ in range(25)))
    assert {p.subject for p in principals} == {"alice"}
    assert issuer.jwks_fetches() == 1


async def test_a_new_kid_refetches_the_keys_once(
    issuer: FakeIssuer, make_verifier: Any, clock: Clock
) -> None:
    verifier = make_verifier(issuer)
    await verifier.verify(token(issuer))
    clock.now += 30
    issuer.keys = [NEW, OLD]  # the issuer rotates: a new key is published
    for _ in range(5):
        assert (await verifier.verify(token(issuer, NEW))).subject == "alice"
        await verifier.verify(token(issuer, OLD))
    assert issuer.jwks_fetches() == 2
    assert discoveries(issuer) == 1  # the jwks_uri is remembered


async def test_concurrent_calls_with_a_new_kid_share_one_refetch(
    issuer: FakeIssuer, make_verifier: Any, clock: Clock
) -> None:
    verifier = make_verifier(issuer)
    await verifier.verify(token(issuer))
    clock.now += 30
    issuer.keys = [NEW, OLD]
    issuer.jwks_delay_s = 0.2
    await asyncio.gather(*(verifier.verify(token(issuer, NEW)) for _ in range(20)))
    assert issuer.jwks_fetches() == 2


async def test_unknown_kids_refetch_at_most_once_per_interval(
    issuer: FakeIssuer, make_verifier: Any, clock: Clock
) -> None:
    verifier = make_verifier(issuer, refresh_min_s=30.0)
    await verifier.verify(token(issuer))
    clock.now += 31
    for key in UNKNOWN:  # a flood of tokens naming unknown keys
        with pytest.raises(Unauthenticated) as caught:
            await verifier.verify(token(issuer, key))
        assert caught.value.reason == "unknown_key"
    assert issuer.jwks_fetches() == 2  # the first unknown kid refetched; the others waited for the interval
    clock.now += 29
    with pytest.raises(Unauthenticated):
        await verifier.verify(token(issuer, UNKNOWN[0]))
    assert issuer.jwks_fetches() == 2
    clock.now += 2
    issuer.keys = [OLD, UNKNOWN[0]]
    assert (await verifier.verify(token(issuer, UNKNOWN[0]))).subject == "alice"
    assert issuer.jwks_fetches() == 3


async def test_a_key_published_just_after_a_refresh_waits_for_the_interval(
    issuer: FakeIssuer, make_verifier: Any, clock: Clock
) -> None:
    verifier = make_verifier(issuer, refresh_min_s=30.0)
    await verifier.verify(token(issuer))
    issuer.keys = [OLD, NEW]
    with pytest.raises(Unauthenticated) as caught:  # the initial fetch was less than 30 s ago
        await verifier.verify(token(issuer, NEW))
    assert caught.value.reason == "unknown_key"
    clock.now += 30
    assert (await verifier.verify(token(issuer, NEW))).subject == "alice"
    assert issuer.jwks_fetches() == 2


async def test_old_keys_are_refreshed_and_kept_when_the_refresh_fails(
    issuer: FakeIssuer, make_verifier: Any, clock: Clock
) -> None:
    verifier = make_verifier(issuer, max_key_age_s=600)
    await verifier.verify(token(issuer))
    clock.now += 601
    issuer.api.fail(503, path="/jwks")
    assert (await verifier.verify(token(issuer))).subject == "alice"  # stale keys still verify
    assert issuer.jwks_fetches() == 2
    clock.now += 31
    issuer.keys = [NEW]  # the old key was withdrawn
    await verifier.verify(token(issuer, NEW))
    assert issuer.jwks_fetches() == 3
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token(issuer, OLD))
    assert caught.value.reason == "unknown_key"


async def test_a_failed_first_fetch_is_retried_after_a_second_not_per_call(
    issuer: FakeIssuer, make_verifier: Any, clock: Clock
) -> None:
    verifier = make_verifier(issuer)
    issuer.api.fail(503, path="/jwks")
    for _ in range(5):
        with pytest.raises(Unauthenticated) as caught:
            await verifier.verify(token(issuer))
        assert caught.value.reason == "keys_unavailable"
    assert issuer.jwks_fetches() == 1
    clock.now += 1
    assert (await verifier.verify(token(issuer))).subject == "alice"
    assert issuer.jwks_fetches() == 2


async def test_an_unknown_kid_while_the_issuer_is_down_is_keys_unavailable(
    issuer: FakeIssuer, make_verifier: Any, clock: Clock
) -> None:
    verifier = make_verifier(issuer)
    await verifier.verify(token(issuer))
    clock.now += 31
    issuer.api.fail(500, path="/jwks")
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token(issuer, NEW))
    assert caught.value.reason == "keys_unavailable"
    assert (await verifier.verify(token(issuer))).subject == "alice"  # known keys keep working


async def test_keys_straight_from_a_jwks_url_skip_discovery(issuer: FakeIssuer, clock: Clock) -> None:
    verifier = JwtVerifier(AUDIENCE, jwks_url=issuer.jwks_url, monotonic=clock)
    try:
        await verifier.verify(token(issuer))
        await verifier.verify(token(issuer))
    finally:
        await verifier.aclose()
    assert issuer.jwks_fetches() == 1
    assert discoveries(issuer) == 0
