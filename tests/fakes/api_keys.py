"""An in-memory ``ApiKeyLookup`` (the tenant store's API key half) for tests of authentication."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from common.auth.api_keys import ApiKeyRecord, generate_api_key, hash_api_key

__all__ = ["InMemoryApiKeys"]


class InMemoryApiKeys:
    """API key records in a dict; records every ``touch_api_key`` call."""

    def __init__(self) -> None:
        self.records: dict[str, ApiKeyRecord] = {}
        self.touches: list[tuple[str, datetime]] = []
        self.lookups = 0
        self.fail_touch = False
        self.fail_find = False

    def create(
        self,
        tenant_id: str,
        scopes: frozenset[str] | set[str],
        *,
        name: str = "test key",
        expires_in: timedelta | None = None,
    ) -> str:
        """Store a new key and return it (the only time it is seen)."""
        key_id, key = generate_api_key()
        now = datetime.now(UTC)
        self.records[key_id] = ApiKeyRecord(
            id=key_id,
            tenant_id=tenant_id,
            display_name=name,
            scopes=frozenset(scopes),
            key_hash=hash_api_key(key),
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
        )
        return key

    def revoke(self, key_id: str) -> None:
        self.records[key_id] = replace(self.records[key_id], revoked_at=datetime.now(UTC))

    async def find_api_key(self, key_id: str) -> ApiKeyRecord | None:
        self.lookups += 1
        if self.fail_find:
            raise ConnectionError("database is down")
        return self.records.get(key_id)

    async def touch_api_key(self, key_id: str, when: datetime) -> None:
        if self.fail_touch:
            raise ConnectionError("database is down")
        self.touches.append((key_id, when))
        self.records[key_id] = replace(self.records[key_id], last_used_at=when)
