"""Request rate limits per tenant and per API key: token buckets (a rate in requests per second and a burst).

With ``REDIS_URL`` set the buckets live in Redis and every replica shares them (one Lua script per check: read,
refill, take, in one atomic step and one round trip); without it each process keeps its own. Over a limit the call
is refused with ``RESOURCE_EXHAUSTED``, a ``google.rpc.QuotaFailure`` naming the limit (``tenant_rps`` or
``api_key_rps``) and a ``google.rpc.RetryInfo`` saying when a token is back.

``RateLimitInterceptor`` runs after the authentication interceptor (it reads the principal that one bound), so any
gRPC server (the supervisor; the gateway of issue 19 through ``RateLimiter`` directly) can use it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from grpc_status import rpc_status

from common.auth.principal import AuthMethod, Principal, current_principal
from common.errors import QuotaExceeded
from common.interceptors import Behaviour, RequestT, ResponseT, rewrap_handler
from common.logging import get_logger
from common.metrics import QUOTA_REJECTIONS

log = get_logger(__name__)

OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass(frozen=True)
class Rate:
    """A token bucket's refill rate (tokens per second) and size; a zero rate means no limit."""

    rps: float
    burst: int


class Buckets(Protocol):
    """Token buckets by key."""

    async def take(self, key: str, rate: Rate) -> float:
        """Take a token; 0 when one was there, else the seconds until one is."""
        ...


class LocalBuckets:
    """Buckets in this process only."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, monotonic time)
        self.max_keys = max_keys

    async def take(self, key: str, rate: Rate) -> float:
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(rate.burst), now))
        tokens = min(float(rate.burst), tokens + (now - last) * rate.rps)
        if tokens >= 1:
            self._remember(key, (tokens - 1, now))
            return 0.0
        self._remember(key, (tokens, now))
        return (1 - tokens) / rate.rps

    def _remember(self, key: str, value: tuple[float, float]) -> None:
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._buckets.pop(next(iter(self._buckets)))
        self._buckets[key] = value


_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class RedisBuckets:
    """Buckets in Redis, shared by every replica (the server's clock, so replicas' clocks do not matter)."""

    def __init__(self, client: Any, prefix: str = "marketing:rate") -> None:
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE)

    async def take(self, key: str, rate: Rate) -> float:
        seconds, micros = await self.client.time()
        now = float(seconds) + float(micros) / 1_000_000
        return float(await self._take(keys=[f"{self.prefix}:{key}"], args=[rate.rps, rate.burst, now]))


RatesOf = Callable[[Principal], Awaitable[tuple[Rate, Rate]]]
"""The (tenant, API key) rates of a caller."""


class RateLimiter:
    """Checks a caller against its tenant's and its API key's buckets."""

    def __init__(self, buckets: Buckets, rates_of: RatesOf) -> None:
        self.buckets = buckets
        self.rates_of = rates_of

    async def check(self, principal: Principal) -> None:
        """Take a token of the caller's tenant and of its API key (when it called with one).

        Raises:
            QuotaExceeded: A bucket is empty (``RetryInfo``: when a token is back).
        """
        if principal.method in (AuthMethod.SYSTEM, AuthMethod.SERVICE):
            return
        tenant_rate, key_rate = await self.rates_of(principal)
        if principal.method is AuthMethod.API_KEY and key_rate.rps > 0:
            wait = await self.buckets.take(f"key:{principal.subject}", key_rate)
            if wait > 0:
                raise QuotaExceeded(
                    f"this API key's rate limit of {key_rate.rps:g} requests per second is reached",
                    f"api_key:{principal.subject}", "api_key_rps", wait,
                )  # fmt: skip
        if tenant_rate.rps > 0:
            wait = await self.buckets.take(f"tenant:{principal.tenant_id}", tenant_rate)
            if wait > 0:
                raise QuotaExceeded(
                    f"the tenant's rate limit of {tenant_rate.rps:g} requests per second is reached",
                    f"tenant:{principal.tenant_id}", "tenant_rps", wait,
                )  # fmt: skip


class RateLimitInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls over their tenant's or API key's rate (place it after the authentication interceptor)."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[RequestT, ResponseT] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[RequestT, ResponseT] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(OPEN_PREFIXES):
            return handler
        return rewrap_handler(handler, self._wrap_unary, self._wrap_stream)

    async def _admit(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        principal = current_principal()
        if principal is None:
            return
        try:
            await self.limiter.check(principal)
        except QuotaExceeded as exc:
            QUOTA_REJECTIONS.labels(quota=exc.quota).inc()
            log.info("rate_limited", quota=exc.quota, retry_after_s=round(exc.retry_after_s, 3))
            status = rpc_status.to_status(exc.to_status())
            await context.abort(status.code, status.details, status.trailing_metadata)
        except Exception as exc:  # Redis down: let the call through (quotas and budgets still bound spend)
            log.warning("rate_limit_unavailable", error=f"{type(exc).__name__}: {exc}")

    def _wrap_unary(self, behaviour: Behaviour) -> Behaviour:
        async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await self._admit(context)
            return await behaviour(request, context)

        return handler

    def _wrap_stream(self, behaviour: Behaviour) -> Behaviour:
        async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            await self._admit(context)
            async for response in behaviour(request, context):
                yield response

        return handler


def redis_or_local(redis_url: str | None) -> Buckets:
    """Redis buckets when ``redis_url`` is set (shared by every replica), else this process's."""
    if not redis_url:
        return LocalBuckets()
    import redis.asyncio as redis

    return RedisBuckets(redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3))
