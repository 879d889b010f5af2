"""Overload protection, and a guard against requests that do not decode.

``OverloadInterceptor`` caps concurrent calls per group of methods, per server (that is, per replica). A call
beyond its group's cap is answered at once with ``RESOURCE_EXHAUSTED`` carrying a ``google.rpc.RetryInfo``;
nothing is queued. A slot is held from the start of the handler until a unary call returns or a stream ends, fails
or is cancelled, and is released exactly once. Methods outside the mapping (health, reflection, the teams' own
tool services, the supervisor's workflow queries and CancelWorkflow) are never capped.

``UndecodableRequestInterceptor``: grpc answers a request that is not valid protobuf with ``UNKNOWN`` (the
deserializer raises inside grpc, before any handler runs); this interceptor makes it ``INVALID_ARGUMENT``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
from grpc_status import rpc_status

from common.config import Settings
from common.errors import ResourceExhausted
from common.interceptors import RequestT, ResponseT, rewrap_handler
from common.logging import get_logger

log = get_logger(__name__)

WORKFLOWS = "workflows"
BRIEFS = "briefs"

# Fully qualified method -> the group whose cap it counts against.
DEFAULT_GROUPS: Mapping[str, str] = {
    "/marketing.supervisor.v1.SupervisorService/RunTask": WORKFLOWS,
    "/marketing.supervisor.v1.SupervisorService/StreamTask": WORKFLOWS,
    "/marketing.supervisor.v1.SupervisorService/ResumeWorkflow": WORKFLOWS,  # runs the workflow to its end
    "/marketing.team.v1.TeamService/RunBrief": BRIEFS,
    "/marketing.team.v1.TeamService/StreamBrief": BRIEFS,
}


class _Slot:
    """One admitted call's place in its group; ``release`` is idempotent."""

    __slots__ = ("_group", "_limiter", "_released")

    def __init__(self, limiter: ConcurrencyLimiter, group: str) -> None:
        self._limiter = limiter
        self._group = group
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._limiter._in_flight[self._group] -= 1


class ConcurrencyLimiter:
    """Counts in-flight calls per group and refuses a call when its group is at its limit (no queue)."""

    def __init__(self, limits: Mapping[str, int]) -> None:
        if any(limit < 1 for limit in limits.values()):
            raise ValueError("every limit must be at least 1")
        self.limits = dict(limits)
        self._in_flight = dict.fromkeys(self.limits, 0)

    def in_flight(self, group: str) -> int:
        """Calls of the group holding a slot now."""
        return self._in_flight[group]

    def try_acquire(self, group: str) -> _Slot | None:
        """A slot in the group, or None when the group is full."""
        if self._in_flight[group] >= self.limits[group]:
            return None
        self._in_flight[group] += 1
        return _Slot(self, group)


class OverloadInterceptor(grpc.aio.ServerInterceptor):
    """Caps concurrent calls per group of methods; rejects the excess with RESOURCE_EXHAUSTED and RetryInfo."""

    def __init__(
        self,
        limits: Mapping[str, int],
        groups: Mapping[str, str] = DEFAULT_GROUPS,
        retry_after_s: float = 1.0,
    ) -> None:
        """
        Args:
            limits: Maximum concurrent calls per group.
            groups: Fully qualified method name -> group; every group must have a limit.
            retry_after_s: The delay the rejection's RetryInfo suggests.
        """
        missing = set(groups.values()) - set(limits)
        if missing:
            raise ValueError(f"no limit for group(s) {sorted(missing)}")
        self.limiter = ConcurrencyLimiter(limits)
        self.groups = dict(groups)
        self.retry_after_s = retry_after_s

    @classmethod
    def from_settings(cls, settings: Settings) -> OverloadInterceptor:
        """Workflows capped at MAX_CONCURRENT_WORKFLOWS, briefs at MAX_CONCURRENT_BRIEFS."""
        return cls(
            {WORKFLOWS: settings.max_concurrent_workflows, BRIEFS: settings.max_concurrent_briefs},
            retry_after_s=settings.overload_retry_after_s,
        )

    def in_flight(self, group: str) -> int:
        """Calls of the group running on this server now."""
        return self.limiter.in_flight(group)

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[RequestT, ResponseT] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[RequestT, ResponseT] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        group = self.groups.get(method)
        if handler is None or group is None:
            return handler
        return rewrap_handler(
            handler,
            lambda behaviour: self._unary(behaviour, method, group),
            lambda behaviour: self._stream(behaviour, method, group),
        )

    async def _reject(self, context: grpc.aio.ServicerContext[Any, Any], method: str, group: str) -> None:
        limit = self.limiter.limits[group]
        error = ResourceExhausted(
            f"server at capacity: {limit} concurrent {group} already running on this replica; "
            f"retry in {self.retry_after_s:g} s",
            retry_after_s=self.retry_after_s,
        )
        status = rpc_status.to_status(error.to_status())
        log.warning("rpc_overloaded", method=method, group=group, limit=limit)
        await context.abort(status.code, status.details, status.trailing_metadata)

    def _unary(self, behaviour: Callable[..., Any], method: str, group: str) -> Callable[..., Any]:
        async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            slot = self.limiter.try_acquire(group)
            if slot is None:
                await self._reject(context, method, group)
                return None  # pragma: no cover - abort raises
            try:
                result = behaviour(request, context)
                if inspect.isawaitable(result):
                    result = await result
                return result
            finally:
                slot.release()

        return handler

    def _stream(self, behaviour: Callable[..., Any], method: str, group: str) -> Callable[..., Any]:
        async def handler(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            slot = self.limiter.try_acquire(group)
            if slot is None:
                await self._reject(context, method, group)
                return
            try:
                responses = behaviour(request, context)
                if hasattr(responses, "__aiter__"):
                    async for response in responses:
                        yield response
                else:
                    for response in responses:
                        yield response
            finally:
                slot.release()

        return handler


class _Undecodable:
    """Stands in for a request message whose bytes did not decode."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class UndecodableRequestInterceptor(grpc.aio.ServerInterceptor):
    """Answers a unary request that does not decode as its message type with ``INVALID_ARGUMENT``, not ``UNKNOWN``.

    The method's deserializer is wrapped so that a decoding error yields a placeholder instead of raising inside
    grpc; the handler then aborts with ``INVALID_ARGUMENT`` before the servicer sees anything.
    """

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[RequestT, ResponseT] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[RequestT, ResponseT] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None or handler.request_streaming:
            return handler
        method = handler_call_details.method

        def unary(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                if isinstance(request, _Undecodable):
                    await _reject_undecodable(context, method, request)
                return await behaviour(request, context)

            return guarded

        def stream(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            async def guarded(
                request: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                if isinstance(request, _Undecodable):
                    await _reject_undecodable(context, method, request)
                async for response in behaviour(request, context):
                    yield response

            return guarded

        return rewrap_handler(handler, unary, stream, _tolerant(handler.request_deserializer))


def _tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:
            return _Undecodable(exc)

    return deserialize


async def _reject_undecodable(
    context: grpc.aio.ServicerContext[Any, Any], method: str, request: _Undecodable
) -> None:
    log.info("rpc_rejected", method=method, code="INVALID_ARGUMENT", error=str(request.error))
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"the request does not decode as this method's message: {request.error}",
    )
