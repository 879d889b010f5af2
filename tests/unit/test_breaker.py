"""Unit tests for common.resilience.AsyncCircuitBreaker (real sleeps past a short reset timeout)."""

from __future__ import annotations

import asyncio

import pytest

from common.resilience import STATE_CLOSED, STATE_HALF_OPEN, STATE_OPEN, AsyncCircuitBreaker, BreakerOpen

FAIL_MAX = 2
RESET_S = 0.2


class CallerError(Exception):
    """An error that says nothing about the callee's health."""


def make_breaker() -> AsyncCircuitBreaker:
    return AsyncCircuitBreaker(
        "test",
        fail_max=FAIL_MAX,
        reset_timeout_s=RESET_S,
        is_caller_error=lambda e: isinstance(e, CallerError),
    )


class Counter:
    def __init__(self) -> None:
        self.entered = 0


async def fail(breaker: AsyncCircuitBreaker, counter: Counter, error: Exception | None = None) -> None:
    with pytest.raises(type(error) if error else OSError):
        async with breaker.guard():
            counter.entered += 1
            raise error or OSError("connection refused")


async def succeed(breaker: AsyncCircuitBreaker, counter: Counter) -> None:
    async with breaker.guard():
        counter.entered += 1


async def trip(breaker: AsyncCircuitBreaker) -> None:
    for _ in range(FAIL_MAX):
        await fail(breaker, Counter())
    assert breaker.state == STATE_OPEN


async def test_opens_after_fail_max_failures_and_then_refuses_without_running_body() -> None:
    breaker, counter = make_breaker(), Counter()
    await fail(breaker, counter)
    assert (breaker.state, breaker.fail_counter) == (STATE_CLOSED, 1)
    await fail(breaker, counter)
    assert breaker.state == STATE_OPEN
    assert counter.entered == 2
    for _ in range(3):
        with pytest.raises(BreakerOpen):
            await succeed(breaker, counter)
    assert counter.entered == 2


async def test_caller_errors_never_open_it() -> None:
    breaker, counter = make_breaker(), Counter()
    for _ in range(FAIL_MAX * 3):
        await fail(breaker, counter, CallerError("bad argument"))
    assert breaker.state == STATE_CLOSED
    assert breaker.fail_counter == 0
    await succeed(breaker, counter)
    assert counter.entered == FAIL_MAX * 3 + 1


async def test_success_resets_the_count() -> None:
    breaker, counter = make_breaker(), Counter()
    for _ in range(3):
        await fail(breaker, counter)
        assert breaker.fail_counter == 1
        await succeed(breaker, counter)
        assert breaker.fail_counter == 0
    assert breaker.state == STATE_CLOSED


async def test_stays_open_before_reset_timeout() -> None:
    breaker, counter = make_breaker(), Counter()
    await trip(breaker)
    await asyncio.sleep(RESET_S / 4)
    with pytest.raises(BreakerOpen):
        await succeed(breaker, counter)
    assert counter.entered == 0


async def test_single_trial_after_reset_timeout_then_closes_on_success() -> None:
    breaker = make_breaker()
    await trip(breaker)
    await asyncio.sleep(RESET_S + 0.05)

    release = asyncio.Event()
    entered = Counter()

    async def guarded() -> str:
        async with breaker.guard():
            entered.entered += 1
            await release.wait()
        return "ok"

    tasks = [asyncio.create_task(guarded()) for _ in range(5)]
    await asyncio.sleep(0.02)
    assert entered.entered == 1
    assert breaker.state == STATE_HALF_OPEN
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results.count("ok") == 1
    assert sum(isinstance(r, BreakerOpen) for r in results) == 4
    assert entered.entered == 1
    assert breaker.state == STATE_CLOSED
    assert breaker.fail_counter == 0
    # Closed again: calls go through.
    await succeed(breaker, entered)
    assert entered.entered == 2


async def test_failed_trial_reopens() -> None:
    breaker, counter = make_breaker(), Counter()
    await trip(breaker)
    await asyncio.sleep(RESET_S + 0.05)
    await fail(breaker, counter)
    assert counter.entered == 1
    assert breaker.state == STATE_OPEN
    with pytest.raises(BreakerOpen):
        await succeed(breaker, counter)
    assert counter.entered == 1
    # After another timeout a new trial is allowed, and it closes the breaker.
    await asyncio.sleep(RESET_S + 0.05)
    await succeed(breaker, counter)
    assert counter.entered == 2
    assert breaker.state == STATE_CLOSED


async def _cancel_inside(breaker: AsyncCircuitBreaker) -> int:
    """Cancel a guarded body while it waits; returns how many times the body was entered."""
    entered = Counter()
    never = asyncio.Event()

    async def body() -> None:
        async with breaker.guard():
            entered.entered += 1
            await never.wait()

    task = asyncio.create_task(body())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return entered.entered


async def test_cancellation_is_reraised_and_not_a_failure() -> None:
    breaker = make_breaker()
    assert await _cancel_inside(breaker) == 1
    assert breaker.fail_counter == 0
    assert breaker.state == STATE_CLOSED
    # Cancelling many times never opens the breaker.
    for _ in range(FAIL_MAX * 2):
        await _cancel_inside(breaker)
    assert breaker.state == STATE_CLOSED


async def test_cancellation_leaves_failure_count_unchanged() -> None:
    breaker, counter = make_breaker(), Counter()
    await fail(breaker, counter)
    assert breaker.fail_counter == 1
    await _cancel_inside(breaker)
    assert breaker.fail_counter == 1


async def test_cancelled_trial_does_not_close_the_breaker() -> None:
    breaker = make_breaker()
    await trip(breaker)
    await asyncio.sleep(RESET_S + 0.05)
    assert await _cancel_inside(breaker) == 1
    assert breaker.state != STATE_CLOSED


async def test_trial_slot_is_released_after_cancelled_trial() -> None:
    breaker, counter = make_breaker(), Counter()
    await trip(breaker)
    await asyncio.sleep(RESET_S + 0.05)
    await _cancel_inside(breaker)
    # Whatever state the cancelled trial left, once the timeout has passed again the next call is not refused as
    # "trial in flight".
    await asyncio.sleep(RESET_S + 0.05)
    await succeed(breaker, counter)
    assert counter.entered == 1


async def test_caller_errors_neither_count_nor_reset_the_count() -> None:
    breaker, counter = make_breaker(), Counter()
    await fail(breaker, counter)
    with pytest.raises(CallerError):
        async with breaker.guard():
            raise CallerError
    assert breaker.fail_counter == 1
    await fail(breaker, counter)
    assert breaker.state == STATE_OPEN
