"""Tenants' API keys: ``mka_<12 hex id>_<43 url-safe chars>``, shown once, stored only as a SHA-256 hash.

The id part names the stored record (so a key is found without scanning); the whole key is hashed and compared in
constant time. The tenant store implements ``ApiKeyLookup``; ``ApiKeyVerifier`` turns a presented key into the
principal of its tenant, refusing unknown, mismatching, revoked and expired keys, and records the key's last use
at most once a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from common.auth.principal import AuthMethod, Principal
from common.errors import Unauthenticated
from common.logging import get_logger

log = get_logger(__name__)

API_KEY_PREFIX = "mka_"
API_KEY = re.compile(r"^mka_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
"""The shape of an API key; group 1 is its id."""

TOUCH_INTERVAL = timedelta(minutes=1)
"""A key's last use is written at most this often."""


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as stored: never the key itself, only the SHA-256 of the whole key (``hash_api_key``)."""

    id: str
    tenant_id: str
    display_name: str
    scopes: frozenset[str]
    key_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class ApiKeyLookup(Protocol):
    """Where API keys are stored (the tenant store); looked up by id across tenants."""

    async def find_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, whatever its tenant, revoked or expired included; None when there is none."""
        ...

    async def touch_api_key(self, key_id: str, when: datetime) -> None:
        """Record that the key was used at ``when``."""
        ...


def generate_api_key() -> tuple[str, str]:
    """A new key: ``(key id, key)``. Show the key once, store ``hash_api_key(key)``."""
    key_id = secrets.token_hex(6)
    return key_id, f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def hash_api_key(key: str) -> str:
    """The stored form of a key: the hex SHA-256 of the whole key."""
    return hashlib.sha256(key.encode()).hexdigest()


def parse_api_key(key: str) -> str | None:
    """The id of a well-formed key, None otherwise."""
    match = API_KEY.match(key)
    return match.group(1) if match else None


def looks_like_api_key(credential: str) -> bool:
    """Whether a bearer credential is meant as an API key (rather than a JWT)."""
    return credential.startswith(API_KEY_PREFIX)


class ApiKeyVerifier:
    """Checks presented API keys against the store.

    Args:
        lookup: The key store.
        now: The wall clock (aware datetimes), for expiry and last use.
        monotonic: The clock that spaces last-use writes.
    """

    def __init__(
        self,
        lookup: ApiKeyLookup,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._now = now
        self._monotonic = monotonic
        self._touched: dict[str, float] = {}

    async def verify(self, key: str) -> Principal:
        """The principal of the key's tenant, with the key's scopes; subject = the key id.

        Raises:
            Unauthenticated: Malformed key (``malformed_api_key``), unknown id (``unknown_api_key``), hash mismatch
                (``bad_api_key``), revoked (``api_key_revoked``) or expired (``api_key_expired``).
        """
        key_id = parse_api_key(key)
        if key_id is None:
            raise Unauthenticated(
                "the API key is malformed (expected mka_<id>_<secret>)", "malformed_api_key"
            )
        record = await self._lookup.find_api_key(key_id)
        if record is None:
            raise Unauthenticated(f"API key {key_id} does not exist", "unknown_api_key")
        if not hmac.compare_digest(hash_api_key(key).encode(), record.key_hash.encode()):
            raise Unauthenticated(f"API key {key_id} does not match its secret", "bad_api_key")
        now = self._now()
        if record.revoked_at is not None:
            raise Unauthenticated(f"API key {key_id} was revoked", "api_key_revoked")
        if record.expires_at is not None and record.expires_at <= now:
            raise Unauthenticated(f"API key {key_id} has expired", "api_key_expired")
        await self._touch(record, now)
        return Principal(record.tenant_id, record.id, frozenset(record.scopes), AuthMethod.API_KEY)

    async def _touch(self, record: ApiKeyRecord, now: datetime) -> None:
        """Record the use unless it was recorded less than ``TOUCH_INTERVAL`` ago (here or in the store)."""
        if record.last_used_at is not None and now - record.last_used_at < TOUCH_INTERVAL:
            return
        tick = self._monotonic()
        last = self._touched.get(record.id)
        if last is not None and tick - last < TOUCH_INTERVAL.total_seconds():
            return
        self._touched[record.id] = tick
        try:
            await self._lookup.touch_api_key(record.id, now)
        except Exception as exc:  # the call goes on: last use is bookkeeping, not authentication
            log.warning("api_key_touch_failed", key_id=record.id, error=f"{type(exc).__name__}: {exc}")
