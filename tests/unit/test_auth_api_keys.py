"""API keys: format, hashing, verification against an in-memory store, and last-use bookkeeping."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from common.auth.api_keys import (
    API_KEY,
    ApiKeyLookup,
    ApiKeyVerifier,
    generate_api_key,
    hash_api_key,
    looks_like_api_key,
    parse_api_key,
)
from common.auth.principal import AuthMethod, Scope
from common.errors import Unauthenticated
from tests.fakes.api_keys import InMemoryApiKeys

READ = frozenset({Scope.TASKS_READ.value})


class Clocks:
    """A wall clock and a monotonic clock that move together."""

    def __init__(self) -> None:
        self.wall = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
        self.tick = 500.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.tick

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.tick += seconds


@pytest.fixture
def store() -> InMemoryApiKeys:
    return InMemoryApiKeys()


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def verifier(store: InMemoryApiKeys, clocks: Clocks) -> ApiKeyVerifier:
    return ApiKeyVerifier(store, now=clocks.now, monotonic=clocks.monotonic)


def test_generated_keys_have_the_documented_shape_and_are_distinct() -> None:
    keys = [generate_api_key() for _ in range(50)]
    for key_id, key in keys:
        assert re.fullmatch(r"mka_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
        assert API_KEY.match(key) and parse_api_key(key) == key_id
        assert looks_like_api_key(key)
    assert len({key for _, key in keys}) == len({key_id for key_id, _ in keys}) == 50


def test_the_hash_is_the_sha256_of_the_whole_key() -> None:
    _, key = generate_api_key()
    digest = hash_api_key(key)
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and key not in digest
    assert hash_api_key(key) == digest and hash_api_key(key + "x") != digest


@pytest.mark.parametrize(
    "text",
    ["", "mka_", "mka_abc_def", "mka_0123456789AB_" + "a" * 43, "mka_0123456789ab_" + "a" * 42, "eyJhbGciOi"],
)
def test_malformed_keys_have_no_id(text: str) -> None:
    assert parse_api_key(text) is None


def test_the_store_fake_is_an_api_key_lookup(store: InMemoryApiKeys) -> None:
    lookup: ApiKeyLookup = store
    assert lookup is store


async def test_a_valid_key_gives_its_tenants_principal_with_its_scopes(
    store: InMemoryApiKeys, verifier: ApiKeyVerifier
) -> None:
    key = store.create("acme", READ)
    principal = await verifier.verify(key)
    key_id = parse_api_key(key)
    assert principal.tenant_id == "acme"
    assert principal.subject == key_id
    assert principal.scopes == READ
    assert principal.method is AuthMethod.API_KEY
    assert principal.actor == f"api_key:{key_id}"


async def _reason(verifier: ApiKeyVerifier, key: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(key)
    assert len(key) < 20 or key[17:] not in caught.value.message  # never echoes the secret
    return caught.value.reason


async def test_refusals_have_distinct_reasons(
    store: InMemoryApiKeys, verifier: ApiKeyVerifier, clocks: Clocks
) -> None:
    key = store.create("acme", READ)
    key_id = parse_api_key(key)
    assert key_id is not None
    assert await _reason(verifier, "mka_not-a-key") == "malformed_api_key"
    assert await _reason(verifier, generate_api_key()[1]) == "unknown_api_key"
    forged = f"mka_{key_id}_{generate_api_key()[1][17:]}"  # the id of a real key, another secret
    assert await _reason(verifier, forged) == "bad_api_key"
    store.records[key_id] = replace(store.records[key_id], expires_at=clocks.now() - timedelta(seconds=1))
    assert await _reason(verifier, key) == "api_key_expired"
    store.revoke(key_id)
    assert await _reason(verifier, key) == "api_key_revoked"
    assert store.touches == []


async def test_a_key_with_a_future_expiry_works_until_then(
    store: InMemoryApiKeys, verifier: ApiKeyVerifier, clocks: Clocks
) -> None:
    key = store.create("acme", READ)
    key_id = parse_api_key(key)
    assert key_id is not None
    store.records[key_id] = replace(store.records[key_id], expires_at=clocks.now() + timedelta(hours=1))
    assert (await verifier.verify(key)).tenant_id == "acme"
    clocks.advance(3600)
    assert await _reason(verifier, key) == "api_key_expired"


async def test_last_use_is_recorded_at_most_once_a_minute(
    store: InMemoryApiKeys, verifier: ApiKeyVerifier, clocks: Clocks
) -> None:
    key = store.create("acme", READ)
    other = store.create("globex", READ)
    for _ in range(10):
        await verifier.verify(key)
        clocks.advance(5)
    await verifier.verify(other)
    assert [key_id for key_id, _ in store.touches] == [parse_api_key(key), parse_api_key(other)]
    clocks.advance(15)
    await verifier.verify(key)
    assert len(store.touches) == 3
    assert store.touches[-1][1] == clocks.now()


async def test_a_store_that_lags_is_not_written_more_than_once_a_minute(
    store: InMemoryApiKeys, verifier: ApiKeyVerifier, clocks: Clocks
) -> None:
    """The in-process interval holds even when the store's record does not show the last use yet."""
    key = store.create("acme", READ)
    key_id = parse_api_key(key)
    assert key_id is not None
    await verifier.verify(key)
    store.records[key_id] = replace(store.records[key_id], last_used_at=None)
    clocks.advance(30)
    await verifier.verify(key)
    assert len(store.touches) == 1


async def test_a_use_recorded_by_another_process_lately_is_not_rewritten(
    store: InMemoryApiKeys, clocks: Clocks
) -> None:
    key = store.create("acme", READ)
    key_id = parse_api_key(key)
    assert key_id is not None
    store.records[key_id] = replace(store.records[key_id], last_used_at=clocks.now() - timedelta(seconds=20))
    fresh = ApiKeyVerifier(store, now=clocks.now, monotonic=clocks.monotonic)
    await fresh.verify(key)
    assert store.touches == []


async def test_a_failing_last_use_write_does_not_refuse_the_call(
    store: InMemoryApiKeys, verifier: ApiKeyVerifier
) -> None:
    key = store.create("acme", READ)
    store.fail_touch = True
    with capture_logs() as logs:
        assert (await verifier.verify(key)).tenant_id == "acme"
    assert [e for e in logs if e["event"] == "api_key_touch_failed"]
    assert all(key not in str(e) for e in logs)
