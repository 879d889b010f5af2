"""Unit tests for common.overload (the concurrency caps) and the breaker's state-change callback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from marketing.supervisor.v1 import supervisor_pb2
from marketing.team.v1 import team_pb2

from common.config import load_settings
from common.errors import ConfigError
from common.overload import BRIEFS, DEFAULT_GROUPS, WORKFLOWS, ConcurrencyLimiter, OverloadInterceptor
from common.resilience import STATE_CLOSED, STATE_HALF_OPEN, STATE_OPEN, AsyncCircuitBreaker
from common.team_client import dependency_status

RUN = "/marketing.supervisor.v1.SupervisorService/RunTask"
STREAM = "/marketing.supervisor.v1.SupervisorService/StreamTask"
HEALTH = "/grpc.health.v1.Health/Check"


class FakeContext:
    """Records the abort a handler makes, raising like grpc.aio does."""

    def __init__(self) -> None:
        self.aborted: tuple[grpc.StatusCode, str, Any] | None = None

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        self.aborted = (code, details, trailing_metadata)
        raise grpc.aio.AbortError(details)


class Details:
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


async def intercepted(interceptor: OverloadInterceptor, method: str, handler: Any) -> Any:
    async def continuation(_: Any) -> Any:
        return handler

    return await interceptor.intercept_service(continuation, Details(method))


def retry_delay_ms(context: FakeContext) -> int:
    assert context.aborted is not None
    code, _, trailing = context.aborted
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    [value] = [v for k, v in trailing if k == "grpc-status-details-bin"]
    status = status_pb2.Status.FromString(value)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    [detail] = status.details
    info = error_details_pb2.RetryInfo()
    assert detail.Unpack(info)
    return info.retry_delay.ToMilliseconds()


def test_limiter_refuses_beyond_the_limit_and_release_is_idempotent() -> None:
    limiter = ConcurrencyLimiter({"g": 2})
    first, second = limiter.try_acquire("g"), limiter.try_acquire("g")
    assert first and second and limiter.in_flight("g") == 2
    assert limiter.try_acquire("g") is None
    first.release()
    first.release()
    assert limiter.in_flight("g") == 1
    assert limiter.try_acquire("g") is not None
    with pytest.raises(ValueError):
        ConcurrencyLimiter({"g": 0})


def test_every_group_needs_a_limit() -> None:
    with pytest.raises(ValueError, match="briefs"):
        OverloadInterceptor({WORKFLOWS: 1})


def test_default_groups_name_the_real_methods() -> None:
    supervisor = supervisor_pb2.DESCRIPTOR.services_by_name["SupervisorService"]
    team = team_pb2.DESCRIPTOR.services_by_name["TeamService"]
    existing = {f"/{s.full_name}/{m.name}" for s in (supervisor, team) for m in s.methods}
    assert set(DEFAULT_GROUPS) <= existing
    assert sorted(DEFAULT_GROUPS.items()) == [
        ("/marketing.supervisor.v1.SupervisorService/ResumeWorkflow", WORKFLOWS),
        ("/marketing.supervisor.v1.SupervisorService/RunTask", WORKFLOWS),
        ("/marketing.supervisor.v1.SupervisorService/StreamTask", WORKFLOWS),
        ("/marketing.team.v1.TeamService/RunBrief", BRIEFS),
        ("/marketing.team.v1.TeamService/StreamBrief", BRIEFS),
    ]


def test_settings_defaults_and_bounds() -> None:
    settings = load_settings()
    assert (settings.max_concurrent_workflows, settings.max_concurrent_briefs) == (64, 32)
    assert settings.overload_retry_after_s == 1.0
    interceptor = OverloadInterceptor.from_settings(
        load_settings(max_concurrent_workflows=3, max_concurrent_briefs=5, overload_retry_after_s=2.5)
    )
    assert interceptor.limiter.limits == {WORKFLOWS: 3, BRIEFS: 5}
    assert interceptor.retry_after_s == 2.5
    with pytest.raises(ConfigError, match="MAX_CONCURRENT_WORKFLOWS"):
        load_settings(max_concurrent_workflows=0)
    with pytest.raises(ConfigError, match="OVERLOAD_RETRY_AFTER_S"):
        load_settings(overload_retry_after_s=0)


async def test_methods_outside_the_mapping_are_untouched() -> None:
    interceptor = OverloadInterceptor({WORKFLOWS: 1, BRIEFS: 1})
    handler = grpc.unary_unary_rpc_method_handler(lambda r, c: r)
    assert await intercepted(interceptor, HEALTH, handler) is handler
    assert await intercepted(interceptor, RUN, None) is None


async def test_unary_beyond_the_cap_is_rejected_at_once_with_retry_info() -> None:
    interceptor = OverloadInterceptor({WORKFLOWS: 1, BRIEFS: 1}, retry_after_s=1.5)
    release = asyncio.Event()

    async def slow(request: str, context: Any) -> str:
        await release.wait()
        return request.upper()

    handler = await intercepted(interceptor, RUN, grpc.unary_unary_rpc_method_handler(slow))
    first = asyncio.ensure_future(handler.unary_unary("a", FakeContext()))
    await asyncio.sleep(0)
    assert interceptor.in_flight(WORKFLOWS) == 1
    rejected = FakeContext()
    with pytest.raises(grpc.aio.AbortError):
        await asyncio.wait_for(handler.unary_unary("b", rejected), 1)
    assert retry_delay_ms(rejected) == 1500
    assert "capacity" in rejected.aborted[1]
    assert interceptor.in_flight(WORKFLOWS) == 1, "a rejected call holds no slot"
    release.set()
    assert await first == "A"
    assert interceptor.in_flight(WORKFLOWS) == 0
    assert await handler.unary_unary("c", FakeContext()) == "C"


async def test_unary_slot_is_released_on_exception_and_on_cancellation() -> None:
    interceptor = OverloadInterceptor({WORKFLOWS: 1, BRIEFS: 1})

    async def failing(request: str, context: Any) -> str:
        raise RuntimeError("boom")

    async def hanging(request: str, context: Any) -> str:
        await asyncio.sleep(3600)
        return request

    handler = await intercepted(interceptor, RUN, grpc.unary_unary_rpc_method_handler(failing))
    with pytest.raises(RuntimeError):
        await handler.unary_unary("a", FakeContext())
    assert interceptor.in_flight(WORKFLOWS) == 0
    handler = await intercepted(interceptor, RUN, grpc.unary_unary_rpc_method_handler(hanging))
    task = asyncio.ensure_future(handler.unary_unary("a", FakeContext()))
    await asyncio.sleep(0)
    assert interceptor.in_flight(WORKFLOWS) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert interceptor.in_flight(WORKFLOWS) == 0


async def test_stream_holds_its_slot_until_it_ends_fails_or_is_cancelled() -> None:
    interceptor = OverloadInterceptor({WORKFLOWS: 1, BRIEFS: 1})
    gate = asyncio.Event()

    async def events(request: str, context: Any) -> AsyncIterator[str]:
        yield "first"
        await gate.wait()
        if request == "fail":
            raise RuntimeError("boom")
        yield "last"

    handler = await intercepted(interceptor, STREAM, grpc.unary_stream_rpc_method_handler(events))

    async def consume(request: str) -> list[str]:
        return [e async for e in handler.unary_stream(request, FakeContext())]

    for request, outcome in (("ok", None), ("fail", RuntimeError), ("cancel", asyncio.CancelledError)):
        gate.clear()
        task = asyncio.ensure_future(consume(request))
        await asyncio.sleep(0.01)
        assert interceptor.in_flight(WORKFLOWS) == 1
        rejected = FakeContext()
        with pytest.raises(grpc.aio.AbortError):
            [e async for e in handler.unary_stream("x", rejected)]
        assert retry_delay_ms(rejected) == 1000
        if outcome is asyncio.CancelledError:
            task.cancel()
        else:
            gate.set()
        if outcome is None:
            assert await task == ["first", "last"]
        else:
            with pytest.raises(outcome):
                await task
        assert interceptor.in_flight(WORKFLOWS) == 0, request


async def test_groups_are_counted_separately() -> None:
    interceptor = OverloadInterceptor({WORKFLOWS: 1, BRIEFS: 1})
    release = asyncio.Event()

    async def slow(request: str, context: Any) -> str:
        await release.wait()
        return request

    run = await intercepted(interceptor, RUN, grpc.unary_unary_rpc_method_handler(slow))
    brief = await intercepted(
        interceptor, "/marketing.team.v1.TeamService/RunBrief", grpc.unary_unary_rpc_method_handler(slow)
    )
    tasks = [asyncio.ensure_future(h.unary_unary("a", FakeContext())) for h in (run, brief)]
    await asyncio.sleep(0)
    assert (interceptor.in_flight(WORKFLOWS), interceptor.in_flight(BRIEFS)) == (1, 1)
    release.set()
    assert await asyncio.gather(*tasks) == ["a", "a"]


async def test_breaker_reports_state_changes_to_its_callback() -> None:
    changes: list[tuple[str, str]] = []
    breaker = AsyncCircuitBreaker("social", fail_max=1, reset_timeout_s=0.05)
    breaker.on_state_change = lambda name, state: changes.append((name, state))
    with pytest.raises(OSError):
        async with breaker.guard():
            raise OSError("down")
    await asyncio.sleep(0.1)
    async with breaker.guard():
        pass
    assert changes == [("social", STATE_OPEN), ("social", STATE_HALF_OPEN), ("social", STATE_CLOSED)]


async def test_a_failing_state_callback_does_not_break_the_breaker() -> None:
    def broken(name: str, state: str) -> None:
        raise RuntimeError("callback bug")

    breaker = AsyncCircuitBreaker("social", fail_max=1, reset_timeout_s=30, on_state_change=broken)
    with pytest.raises(OSError):
        async with breaker.guard():
            raise OSError("down")
    assert breaker.state == STATE_OPEN


def test_dependency_status_is_not_serving_only_while_open() -> None:
    from grpc_health.v1 import health_pb2

    assert dependency_status(STATE_OPEN) == health_pb2.HealthCheckResponse.NOT_SERVING
    assert dependency_status(STATE_HALF_OPEN) == health_pb2.HealthCheckResponse.SERVING
    assert dependency_status(STATE_CLOSED) == health_pb2.HealthCheckResponse.SERVING


async def test_a_request_that_does_not_decode_is_invalid_argument_not_unknown() -> None:
    from marketing.research.v1 import research_pb2

    from common.overload import UndecodableRequestInterceptor

    seen: list[Any] = []

    async def search(request: Any, context: Any) -> str:
        seen.append(request)
        return "ok"

    async def events(request: Any, context: Any) -> AsyncIterator[str]:
        seen.append(request)
        yield "ok"

    interceptor = UndecodableRequestInterceptor()
    parse = research_pb2.SearchKnowledgeBaseRequest.FromString
    unary = await intercepted(
        interceptor, "/x/Unary", grpc.unary_unary_rpc_method_handler(search, request_deserializer=parse)
    )
    stream = await intercepted(
        interceptor, "/x/Stream", grpc.unary_stream_rpc_method_handler(events, request_deserializer=parse)
    )
    good = research_pb2.SearchKnowledgeBaseRequest(query="q").SerializeToString()
    for handler, call in ((unary, unary.unary_unary), (stream, stream.unary_stream)):
        assert handler.request_deserializer(good).query == "q"
        garbage = handler.request_deserializer(b"\xff\xff\xff")
        context = FakeContext()
        with pytest.raises(grpc.aio.AbortError):
            result = call(garbage, context)
            if hasattr(result, "__aiter__"):
                [e async for e in result]
            else:
                await result
        assert context.aborted is not None
        assert context.aborted[0] == grpc.StatusCode.INVALID_ARGUMENT
        assert "does not decode" in context.aborted[1]
    assert seen == [], "the servicer never sees an undecodable request"
    raw = grpc.unary_unary_rpc_method_handler(search)
    assert await intercepted(interceptor, "/x/Raw", raw) is raw
