"""A circuit breaker per model provider endpoint, shared by every chat model of the process that calls it.

The breaker is the teams' breaker type (``common.resilience.AsyncCircuitBreaker``) around a whole model call, its
retries included: ``LLM_BREAKER_FAIL_MAX`` consecutive calls that fail with transient errors open it, and for
``LLM_BREAKER_RESET_TIMEOUT_S`` the provider is skipped (calls go straight to the backup) until one trial call
decides. Errors that say nothing about the provider's health (a request it rejects, an answer cut at its token
limit) do not count. Its state is the ``marketing_breaker_state{team="llm:<endpoint>"}`` gauge and, in each
service's health service, the ``dependency.llm.<endpoint>`` entry (NOT_SERVING while open); the endpoint is
``openai``, ``anthropic`` or ``backup`` (a backup with its own key or URL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from grpc_health.v1 import health, health_pb2

from common.config import ModelEndpoint, Settings
from common.llm.retry import is_retryable
from common.resilience import STATE_OPEN, AsyncCircuitBreaker

HEALTH_PREFIX = "dependency.llm."
BREAKER_PREFIX = "llm:"

Listener = Callable[[str], None]


@dataclass
class _Entry:
    breaker: AsyncCircuitBreaker
    listeners: list[Listener] = field(default_factory=list)

    def changed(self, _name: str, state: str) -> None:
        for listener in list(self.listeners):
            listener(state)


# Keyed by the endpoint and the breaker settings: one process serves one configuration, so in production this is
# one breaker per endpoint; tests that start services against other fake providers get their own.
_BREAKERS: dict[tuple[str, str, str, int, float], _Entry] = {}


def _entry(endpoint: ModelEndpoint, settings: Settings) -> _Entry:
    key = (
        endpoint.name,
        endpoint.provider.value,
        endpoint.base_url or "",
        settings.llm_breaker_fail_max,
        settings.llm_breaker_reset_timeout_s,
    )
    if (entry := _BREAKERS.get(key)) is None:
        breaker = AsyncCircuitBreaker(
            BREAKER_PREFIX + endpoint.name,
            settings.llm_breaker_fail_max,
            settings.llm_breaker_reset_timeout_s,
            is_caller_error=lambda exc: not is_retryable(exc),
        )
        entry = _BREAKERS[key] = _Entry(breaker)
        breaker.on_state_change = entry.changed
    return entry


def provider_breaker(endpoint: ModelEndpoint, settings: Settings) -> AsyncCircuitBreaker:
    """The process's breaker of a provider endpoint (created on first use)."""
    return _entry(endpoint, settings).breaker


def health_status(state: str) -> int:
    """NOT_SERVING while a provider's breaker is open, SERVING otherwise."""
    if state == STATE_OPEN:
        return health_pb2.HealthCheckResponse.NOT_SERVING
    return health_pb2.HealthCheckResponse.SERVING


class LlmHealth:
    """Mirrors the breakers of the endpoints a service's settings call in its health service, as
    ``dependency.llm.<endpoint>`` (the overall status is left alone: without a provider the workflow still
    answers, degraded)."""

    def __init__(self, settings: Settings) -> None:
        self.entries = {name: _entry(e, settings) for name, e in settings.llm_endpoints().items()}
        self._subscribed: list[tuple[_Entry, Listener]] = []
        self._pending: set[asyncio.Future[None]] = set()

    async def start(self, health_servicer: health.aio.HealthServicer) -> None:
        """Publish each breaker's state now and on every change."""
        loop = asyncio.get_running_loop()
        for name, entry in self.entries.items():
            service = HEALTH_PREFIX + name

            def publish(state: str, service: str = service) -> None:
                task = asyncio.ensure_future(health_servicer.set(service, health_status(state)))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

            def changed(state: str, publish: Listener = publish) -> None:
                loop.call_soon_threadsafe(publish, state)

            entry.listeners.append(changed)
            self._subscribed.append((entry, changed))
            await health_servicer.set(service, health_status(entry.breaker.state))

    async def stop(self) -> None:
        """Stop publishing (the service is shutting down)."""
        for entry, listener in self._subscribed:
            if listener in entry.listeners:
                entry.listeners.remove(listener)
        self._subscribed.clear()
