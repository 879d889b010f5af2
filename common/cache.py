"""The tool-result cache: Redis when ``REDIS_URL`` is set, an in-process TTL cache otherwise.

A key is the tenant, the tool's name and its normalised arguments (keys sorted, whitespace collapsed and case
folded in strings), so "Vector  DB" and "vector db" share an entry, and two tenants never share one (a tenant's own
knowledge documents make its results its own): ``marketing:tool:<tenant>:[<namespace>:]<tool>:<sha256>``. The
tenant is the bound principal's (``common.auth.principal``); code running outside a call (the cache warmer,
tests) caches as the default tenant. ``erase_tenant`` deletes a tenant's entries. Each tool has its own TTL
(``CACHE_TTLS``, else ``CACHE_TTL_S``); 0 turns caching off for that tool.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from cachetools import TLRUCache

from common.auth.principal import DEFAULT_TENANT, current_principal, valid_tenant_id
from common.config import Settings
from common.errors import ConfigError
from common.logging import get_logger
from common.metrics import CACHE_LOOKUPS

log = get_logger(__name__)

KEY_PREFIX = "marketing:tool"


def normalise(value: Any, fold_case: bool = True) -> Any:
    """Arguments in canonical form: whitespace collapsed (and case folded unless ``fold_case`` is false) in
    strings, dict keys sorted."""
    if isinstance(value, str):
        collapsed = " ".join(value.split())
        return collapsed.casefold() if fold_case else collapsed
    if isinstance(value, dict):
        return {str(k): normalise(v, fold_case) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [normalise(v, fold_case) for v in value]
    return value


def cache_key(
    tool: str,
    arguments: dict[str, Any],
    namespace: str = "",
    fold_case: bool = True,
    tenant: str = DEFAULT_TENANT,
) -> str:
    """The cache key of one tool call of a tenant (``fold_case=False`` for case-sensitive arguments such as
    URLs).

    Raises:
        ValueError: ``tenant`` is not a tenant id (it starts the key, so it must never hold ':' or a glob).
    """
    digest = hashlib.sha256(
        json.dumps(normalise(arguments, fold_case), sort_keys=True, default=str).encode()
    ).hexdigest()
    return f"{tenant_prefix(tenant)}{namespace + ':' if namespace else ''}{tool}:{digest}"


def tenant_prefix(tenant: str) -> str:
    """The prefix of every cache key of a tenant.

    Raises:
        ValueError: ``tenant`` is not a tenant id.
    """
    if not valid_tenant_id(tenant):
        raise ValueError(f"not a tenant id: {tenant!r}")
    return f"{KEY_PREFIX}:{tenant}:"


def bound_tenant() -> str:
    """The tenant whose cache entries a tool call reads and writes: the bound principal's, else the default
    tenant (code outside a call: the cache warmer, tests)."""
    principal = current_principal()
    return principal.tenant_id if principal is not None else DEFAULT_TENANT


class Cache(Protocol):
    """Where tool results are kept (JSON-serialisable values)."""

    backend: str

    async def get(self, key: str) -> Any | None:
        """The cached value, or None on a miss."""
        ...

    async def set(self, key: str, value: Any, ttl_s: float) -> None:
        """Keep a value for ``ttl_s`` seconds."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every entry whose key starts with ``prefix``; returns how many were deleted."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryCache:
    """An in-process cache with a TTL per entry and a size bound (least recently used entries go first)."""

    backend = "memory"

    def __init__(self, max_entries: int) -> None:
        self._entries: TLRUCache[str, tuple[str, float]] = TLRUCache(
            maxsize=max_entries, ttu=lambda _key, value, now: now + value[1], timer=time.monotonic
        )

    async def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        return json.loads(entry[0]) if entry is not None else None

    async def set(self, key: str, value: Any, ttl_s: float) -> None:
        self._entries[key] = (json.dumps(value, default=str), ttl_s)

    async def delete_prefix(self, prefix: str) -> int:
        doomed = [key for key in list(self._entries.keys()) if key.startswith(prefix)]
        for key in doomed:
            self._entries.pop(key, None)
        return len(doomed)

    async def close(self) -> None:
        self._entries.clear()


class RedisCache:
    """Tool results in Redis, shared by every replica, expired by Redis itself."""

    backend = "redis"

    def __init__(self, client: Any) -> None:
        self.client = client

    async def get(self, key: str) -> Any | None:
        raw = await self.client.get(key)
        return json.loads(raw) if raw is not None else None

    async def set(self, key: str, value: Any, ttl_s: float) -> None:
        await self.client.set(key, json.dumps(value, default=str), px=max(1, int(ttl_s * 1000)))

    async def delete_prefix(self, prefix: str) -> int:
        """SCAN for the prefix (callers pass ``tenant_prefix``: no glob characters) and UNLINK in batches."""
        deleted = 0
        batch: list[Any] = []
        async for key in self.client.scan_iter(match=f"{prefix}*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(await self.client.unlink(*batch))
                batch.clear()
        if batch:
            deleted += int(await self.client.unlink(*batch))
        return deleted

    async def close(self) -> None:
        await self.client.aclose()


async def open_cache(settings: Settings) -> Cache:
    """The configured cache.

    Raises:
        ConfigError: ``REDIS_URL`` is set but Redis does not answer (no silent fall-back: an operator who set it
            expects a shared cache).
    """
    if not settings.redis_url:
        return MemoryCache(settings.cache_max_entries)
    import redis.asyncio as redis

    client = redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        parts = urlsplit(settings.redis_url)
        where = f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else parts.path
        raise ConfigError(f"REDIS_URL points at {where}, which does not answer: {exc}") from None
    log.info("cache_ready", backend="redis")
    return RedisCache(client)


@dataclass
class ToolCache:
    """Caches the results of named tools, with a TTL per tool and hit/miss counts."""

    cache: Cache
    default_ttl_s: float
    ttls: dict[str, float] = field(default_factory=dict)
    namespace: str = ""
    hits: int = 0
    misses: int = 0

    def ttl_of(self, tool: str) -> float:
        """The TTL of a tool's results (0 = not cached)."""
        return self.ttls.get(tool, self.default_ttl_s)

    def wrap(
        self, tool: str, function: Callable[..., Awaitable[Any]], fold_case: bool = True
    ) -> Callable[..., Awaitable[Any]]:
        """A cached version of an async tool function (``fold_case=False`` keeps arguments' case in the key)."""

        async def cached(**arguments: Any) -> Any:
            ttl = self.ttl_of(tool)
            if ttl <= 0:
                return await function(**arguments)
            key = cache_key(tool, arguments, self.namespace, fold_case, bound_tenant())
            if (value := await self.cache.get(key)) is not None:
                self.hits += 1
                CACHE_LOOKUPS.labels(tool=tool, result="hit").inc()
                return value
            self.misses += 1
            CACHE_LOOKUPS.labels(tool=tool, result="miss").inc()
            value = await function(**arguments)
            await self.cache.set(key, value, ttl)
            return value

        cached.__name__ = getattr(function, "__name__", tool)
        cached.__doc__ = function.__doc__
        return cached

    async def erase_tenant(self, tenant: str) -> int:
        """Delete every cached result of a tenant (all tools, all namespaces); returns how many."""
        return await self.cache.delete_prefix(tenant_prefix(tenant))


async def open_tool_cache(settings: Settings) -> ToolCache:
    """The tool cache of a service, from the settings."""
    return ToolCache(await open_cache(settings), settings.cache_ttl_s, dict(settings.cache_ttls))
