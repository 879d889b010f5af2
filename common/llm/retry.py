"""The one retry policy of model calls: which failures are transient, and how long a provider asks us to wait.

Transient: timeouts, connection errors, 408, 429 and 5xx (Anthropic's 529 "overloaded" included) and incomplete
answers (no finish reason, a dropped or stalled stream, a chunk that does not decode, an error event inside a
stream). The wait is what the provider asked for when it said (``retry-after-ms``, ``Retry-After`` in seconds or as
an HTTP date, else the reset time of an exhausted ``anthropic-ratelimit-*`` limit), otherwise exponential backoff
with jitter. A provider that asks for longer than ``LLM_RETRY_MAX_WAIT_S`` is not retried: the call goes to the
backup (or fails) at once, instead of coming back before the provider is ready.
"""

from __future__ import annotations

import email.utils
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import RetryCallState, wait_exponential_jitter
from tenacity.stop import stop_base

from common.errors import IncompleteAnswerError
from common.resilience import BreakerOpen

INITIAL_BACKOFF_S = 0.5
RATE_LIMITS = ("requests", "tokens", "input-tokens", "output-tokens")
"""Anthropic's limits, each with ``anthropic-ratelimit-<limit>-remaining`` and ``-reset`` (RFC 3339) headers."""


def _is_sdk_error(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is one of the provider SDKs' ``name`` errors (``openai.APIError``, ``anthropic.APIError``...).
    Only SDKs already imported are looked at: one that was never imported raised nothing, and importing them here
    would slow every service's start, the offline model's included."""
    return any(
        isinstance(exc, getattr(module, name))
        for sdk in ("openai", "anthropic", "httpx2")
        if (module := sys.modules.get(sdk)) is not None and hasattr(module, name)
    )


def is_retryable(exc: BaseException) -> bool:
    """True for the transient failures of one model call (see the module docstring)."""
    if isinstance(exc, IncompleteAnswerError | TimeoutError):
        return True
    if _is_sdk_error(exc, "APIConnectionError"):  # timeouts included
        return True
    if _is_sdk_error(exc, "APIStatusError"):
        status = int(getattr(exc, "status_code", 0))
        return status in (408, 429) or status >= 500
    # Raw transport errors, as SDKs let some through while streaming.
    return isinstance(exc, httpx.TransportError) or _is_sdk_error(exc, "TransportError")


def is_provider_failure(exc: BaseException) -> bool:
    """Failures that say the provider could not answer (the next provider may): every API error (client errors
    included: another provider may accept the request), transient failures and an open breaker."""
    return isinstance(exc, BreakerOpen) or _is_sdk_error(exc, "APIError") or is_retryable(exc)


def fault_name(exc: BaseException) -> str:
    """A short, bounded label for a failure (metrics): the HTTP status, or the kind of fault."""
    if isinstance(exc, IncompleteAnswerError):
        return exc.reason
    if isinstance(exc, TimeoutError) or _is_sdk_error(exc, "APITimeoutError"):
        return "timeout"
    if _is_sdk_error(exc, "APIConnectionError"):
        return "connection"
    if _is_sdk_error(exc, "APIStatusError"):
        return str(getattr(exc, "status_code", "status"))
    if isinstance(exc, BreakerOpen):
        return "breaker_open"
    return "other"


def retry_after_s(exc: BaseException | None) -> float | None:
    """The delay a provider's error response asked for; None when it did not say."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    requested = retry_after_in(headers)
    return requested if requested is not None else rate_limit_reset_in(headers)


def retry_after_in(headers: Any) -> float | None:
    """The delay response headers ask for: ``retry-after-ms``, else ``Retry-After`` (seconds or HTTP date)."""
    if (value := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def rate_limit_reset_in(headers: Any) -> float | None:
    """Seconds until the latest reset of an exhausted Anthropic rate limit (``anthropic-ratelimit-*``); None when
    no limit is exhausted."""
    waits = []
    for limit in RATE_LIMITS:
        if headers.get(f"anthropic-ratelimit-{limit}-remaining") != "0":
            continue
        reset = headers.get(f"anthropic-ratelimit-{limit}-reset")
        try:
            moment = datetime.fromisoformat(str(reset).replace("Z", "+00:00"))
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        waits.append(max(0.0, (moment - datetime.now(UTC)).total_seconds()))
    return max(waits) if waits else None


class RetryAfterOrBackoff:
    """tenacity wait: the provider's Retry-After when it sent one (capped), else exponential backoff with
    jitter."""

    def __init__(self, max_wait_s: float) -> None:
        self.max_wait_s = max_wait_s
        self.backoff = wait_exponential_jitter(
            multiplier=INITIAL_BACKOFF_S, max=max_wait_s, jitter=INITIAL_BACKOFF_S
        )

    def __call__(self, state: RetryCallState) -> float:
        requested = retry_after_s(state.outcome.exception() if state.outcome else None)
        if requested is not None:
            return min(requested, self.max_wait_s)
        return self.backoff(state)


class AskedToWaitTooLong(stop_base):
    """tenacity stop: the provider asked for a longer wait than ``max_wait_s``, so retrying it is pointless."""

    def __init__(self, max_wait_s: float) -> None:
        self.max_wait_s = max_wait_s

    def __call__(self, state: RetryCallState) -> bool:
        requested = retry_after_s(state.outcome.exception() if state.outcome else None)
        return requested is not None and requested > self.max_wait_s
