"""Circuit breakers for asyncio code, built on pybreaker.

pybreaker 1.4.1 has no asyncio API (``breaker.call(async_fn)`` would count every call as a success), so the
awaited work runs outside it and its outcome is replayed into pybreaker's state machine afterwards. pybreaker lets
every concurrent call through in half-open state; ``AsyncCircuitBreaker`` enforces a single trial call and makes the
others fail fast. Cancellation is neither a failure nor proof of health: it leaves the breaker as it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pybreaker

from common.logging import get_logger
from common.metrics import set_breaker_state

log = get_logger(__name__)

STATE_CLOSED = pybreaker.STATE_CLOSED
STATE_OPEN = pybreaker.STATE_OPEN
STATE_HALF_OPEN = pybreaker.STATE_HALF_OPEN


class BreakerOpen(Exception):
    """The breaker refused the call without running it."""


StateChangeCallback = Callable[[str, str], None]


class _LogStateChanges(pybreaker.CircuitBreakerListener):
    def __init__(self, owner: AsyncCircuitBreaker) -> None:
        self._owner = owner

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        if self._owner.report_state:
            set_breaker_state(str(cb.name), new_state.name)
        log.warning(
            "breaker_state_changed",
            breaker=cb.name,
            old_state=getattr(old_state, "name", None),
            new_state=new_state.name,
            fail_counter=cb.fail_counter,
        )
        if (callback := self._owner.on_state_change) is not None:
            try:
                callback(str(cb.name), new_state.name)
            except Exception:
                log.exception("breaker_state_callback_failed", breaker=cb.name)


class AsyncCircuitBreaker:
    """A pybreaker circuit breaker usable around awaited calls, with a single half-open trial."""

    def __init__(
        self,
        name: str,
        fail_max: int,
        reset_timeout_s: float,
        is_caller_error: Callable[[BaseException], bool] = lambda _: False,
        on_state_change: StateChangeCallback | None = None,
        report_state: bool = True,
    ) -> None:
        """
        Args:
            name: Name for logs and metrics.
            fail_max: Consecutive failures that open the breaker.
            reset_timeout_s: How long the breaker stays open before one trial call.
            is_caller_error: Errors that say nothing about the callee's health (they do not count).
            on_state_change: Called with (name, new state) on every state change; may also be set later.
            report_state: Publish the state as the ``marketing_breaker_state`` gauge (off for breakers created per
                remote host, whose names are unbounded).
        """
        self.name = name
        self.on_state_change = on_state_change
        self.report_state = report_state
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout_s,
            exclude=[is_caller_error],
            listeners=[_LogStateChanges(self)],
            name=name,
            throw_new_error_on_trip=False,
        )
        self._trial_in_flight = False
        self._is_caller_error = is_caller_error
        if report_state:
            set_breaker_state(name, STATE_CLOSED)

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        return self._breaker.current_state

    @property
    def fail_max(self) -> int:
        """Consecutive failures that open the breaker."""
        return self._breaker.fail_max

    @property
    def reset_timeout_s(self) -> float:
        """How long the breaker stays open before one trial call."""
        return float(self._breaker.reset_timeout)

    @property
    def fail_counter(self) -> int:
        """Consecutive failures counted so far."""
        return self._breaker.fail_counter

    def _open_and_waiting(self) -> bool:
        opened_at = self._breaker._state_storage.opened_at
        if opened_at is None:
            return False
        return datetime.now(UTC) < opened_at + timedelta(seconds=self._breaker.reset_timeout)

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Run the body under the breaker.

        The body runs outside pybreaker; its outcome is then replayed into pybreaker, so only real outcomes
        move the state: a failure counts, a success resets the count (and closes a half-open breaker),
        cancellation leaves everything as it was, and a caller error counts only as the proof of life of a
        half-open trial.

        Raises:
            BreakerOpen: The breaker is open, or a half-open trial call is already in flight.
        """
        state = self.state
        trial = state == STATE_HALF_OPEN or (state == STATE_OPEN and not self._open_and_waiting())
        if state == STATE_OPEN and not trial:
            raise BreakerOpen(f"circuit breaker {self.name} is open")
        if trial:
            if self._trial_in_flight:
                raise BreakerOpen(f"circuit breaker {self.name} is half-open and its trial call is in flight")
            self._trial_in_flight = True
            if state == STATE_OPEN:
                self._breaker.half_open()
        try:
            yield
        except Exception as exc:
            if trial or not self._is_caller_error(exc):
                self._record(exc)
            raise
        else:
            self._record(None)
        finally:
            if trial:
                self._trial_in_flight = False

    def _record(self, error: Exception | None) -> None:
        def outcome() -> None:
            if error is not None:
                raise error

        try:
            self._breaker.call(outcome)
        except pybreaker.CircuitBreakerError:
            pass  # other calls opened the breaker meanwhile; this call's own outcome stands
        except Exception as raised:
            if raised is not error:
                raise
