"""The one HTTP layer for external APIs (search, GitHub, images, social platforms).

``ExternalApi`` is one service: its base URL and auth headers, an ``httpx.AsyncClient`` with timeouts, tenacity
retries on transport errors, 408, 429 and 5xx (``Retry-After`` and rate-limit reset headers honoured, capped by
``EXTERNAL_RETRY_MAX_WAIT_S``), and a circuit breaker per service. Every failure is an ``ExternalServiceError``
whose message names the service; a service that is not configured raises ``ServiceNotConfigured`` naming the
variables that turn it on.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from common.config import Settings
from common.llm.providers import RetryAfterOrBackoff, retry_after_in
from common.logging import get_logger
from common.metrics import EXTERNAL_REQUESTS, EXTERNAL_SECONDS
from common.resilience import AsyncCircuitBreaker, BreakerOpen
from common.telemetry import mark_error, tracer
from common.text import clip

log = get_logger(__name__)

MAX_HOST_BREAKERS = 256
USER_AGENT = "marketing-agents/0.1 (+https://github.com/marketing-agents)"


class ExternalServiceError(RuntimeError):
    """An external API failed; the message names the service and says what happened.

    Attributes:
        service: The service's name, e.g. ``tavily``.
        status: The HTTP status of the last response, or None when there was none.
        response: The last response, when there was one.
        delivered: Whether the service may have acted on the request: False when it cannot have (connection
            refused, breaker open, rate limit known to be exhausted), True when it answered, None when unknown
            (a timeout). Publishers use it to tell a safe retry from a possible duplicate post.
    """

    def __init__(
        self,
        service: str,
        message: str,
        status: int | None = None,
        response: httpx.Response | None = None,
        retryable: bool | None = None,
        delivered: bool | None = None,
    ) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.status = status
        self.response = response
        self._retryable = retryable
        self.delivered = delivered if delivered is not None else (True if status is not None else None)

    @property
    def retryable(self) -> bool:
        """Worth another try: no response, 408, 429, 5xx, or a rate-limit 403 (unless said otherwise)."""
        if self._retryable is not None:
            return self._retryable
        if self.status is None:
            return True
        return self.status in (408, 429) or self.status >= 500 or _rate_limited(self.response)


class ServiceNotConfigured(ExternalServiceError):
    """The service's key or URL is not set."""

    def __init__(self, service: str, how: str) -> None:
        super().__init__(service, f"not configured ({how})", retryable=False, delivered=False)


def _rate_limited(response: httpx.Response | None) -> bool:
    return response is not None and response.status_code == 403 and _rate_limit_headers(response)[0] == "0"


def rate_limit_wait_s(response: httpx.Response | None) -> float | None:
    """Seconds until a rate limit resets: ``Retry-After``, else ``x-ratelimit-reset`` (epoch seconds) when
    ``x-ratelimit-remaining`` is 0; None when the response sets neither."""
    if response is None:
        return None
    if (delay := retry_after_in(response.headers)) is not None:
        return delay
    remaining, reset = _rate_limit_headers(response)
    if remaining == "0" and reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return None
    return None


def error_message(response: httpx.Response) -> str:
    """A short description of an error response: its status and the API's own message when it sent one."""
    detail = ""
    try:
        body = response.json()
    except ValueError:
        detail = response.text
    else:
        detail = _message_in(body) or str(body)
    reason = response.reason_phrase or ""
    return clip(
        f"HTTP {response.status_code} {reason}".strip() + (f": {detail}" if detail.strip() else ""), 300
    )


def _message_in(body: Any) -> str:
    """The human-readable message of common JSON error shapes (GitHub, OpenAI, X, LinkedIn, Tavily)."""
    if isinstance(body, dict):
        # Specific before generic: X sends a generic "detail" next to the specific errors[].message.
        for key in ("message", "error_description", "errors", "detail", "title", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict | list):
                if nested := _message_in(value):
                    return nested
    if isinstance(body, list) and body:
        return _message_in(body[0])
    return ""


@dataclass
class ExternalApi:
    """One external HTTP API.

    Attributes:
        name: Service name for errors, logs, metrics and the breaker (``tavily``, ``github``, ...).
        base_url: Where the API lives; request paths are relative to it.
        headers: Sent with every request (auth, API version).
        timeout_s: Per-request timeout (connect, read, write, pool).
        max_attempts: Attempts per call, the first included.
        max_wait_s: Cap on one wait between attempts (also on a Retry-After the service asks for).
        breaker: Opens after consecutive failed calls (a call's retries count once).
        breaker_per_host: One breaker (and one rate-limit memory) per remote host instead of one for the service,
            for an API that is really many sites (page fetching); the most recently used hosts are kept.
    """

    name: str
    base_url: str
    headers: Mapping[str, str]
    timeout_s: float
    max_attempts: int
    max_wait_s: float
    breaker: AsyncCircuitBreaker
    transport: httpx.AsyncBaseTransport | None = None
    breaker_per_host: bool = False
    _client: httpx.AsyncClient | None = field(default=None, init=False, repr=False)
    _blocked_until: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _host_breakers: OrderedDict[str, AsyncCircuitBreaker] = field(
        default_factory=OrderedDict, init=False, repr=False
    )

    @classmethod
    def from_settings(
        cls,
        name: str,
        base_url: str,
        settings: Settings,
        headers: Mapping[str, str] | None = None,
        breaker_per_host: bool = False,
    ) -> ExternalApi:
        """An API with the process's timeout, retry and breaker settings."""
        return cls(
            name=name,
            base_url=base_url.rstrip("/"),
            headers={"user-agent": USER_AGENT, **(headers or {})},
            timeout_s=settings.external_timeout_s,
            max_attempts=settings.external_max_attempts,
            max_wait_s=settings.external_retry_max_wait_s,
            breaker=_breaker(f"external:{name}", settings.external_breaker_fail_max,
                             settings.external_breaker_reset_timeout_s),
            breaker_per_host=breaker_per_host,
        )  # fmt: skip

    def breaker_for(self, host: str) -> AsyncCircuitBreaker:
        """The breaker guarding calls to ``host`` (the service's one breaker unless ``breaker_per_host``)."""
        if not self.breaker_per_host:
            return self.breaker
        breaker = self._host_breakers.pop(host, None)
        if breaker is None:
            breaker = _breaker(
                f"{self.breaker.name}:{host}",
                self.breaker.fail_max,
                self.breaker.reset_timeout_s,
                report_state=False,
            )
        self._host_breakers[host] = breaker  # most recently used last
        while len(self._host_breakers) > MAX_HOST_BREAKERS:
            self._host_breakers.popitem(last=False)
        return breaker

    @property
    def client(self) -> httpx.AsyncClient:
        """The service's connection pool (created on first use)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=dict(self.headers),
                timeout=httpx.Timeout(self.timeout_s),
                transport=self.transport,
                follow_redirects=False,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
        idempotent: bool = True,
        max_bytes: int | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Send a request, retried and guarded by the breaker; returns a response whose status is in ``ok``.

        Args:
            path: Relative to the base URL, or an absolute URL (page fetching).
            ok: Statuses that are answers (e.g. ``(200, 304)`` for conditional requests).
            idempotent: False for calls with side effects (publishing a post): they are retried only when the
                request cannot have been acted on (connection refused, 429), never after a timeout or a 5xx.
            max_bytes: Refuse a body larger than this (it is read in chunks and abandoned once over).
            extensions: httpx request extensions (``sni_hostname`` when connecting to a pinned address).

        Raises:
            ExternalServiceError: The breaker is open, the service is rate limited for longer than the retry
                cap, every attempt failed, or the service answered with a status that is not worth retrying.
        """
        call = _Call(method.upper(), path, json, params, headers, ok, idempotent, max_bytes, extensions)
        host = httpx.URL(self.base_url).join(path).host if self.base_url else httpx.URL(path).host
        attributes = {
            "http.request.method": call.method,
            "server.address": httpx.URL(self.base_url).host or httpx.URL(path).host,
            "url.path": httpx.URL(path).path,
            "marketing.external_service": self.name,
        }
        with tracer().start_as_current_span(f"{call.method} {self.name}", attributes=attributes) as span:
            try:
                async with self.breaker_for(host).guard():
                    response = await self._with_retries(call, host)
            except BreakerOpen as exc:
                EXTERNAL_REQUESTS.labels(service=self.name, outcome="breaker_open").inc()
                mark_error(span, exc)
                raise ExternalServiceError(
                    self.name, f"failing, calls paused ({exc})", retryable=False, delivered=False
                ) from None
            except ExternalServiceError as exc:
                mark_error(span, exc)
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            return response

    async def _with_retries(self, call: _Call, host: str) -> httpx.Response:
        wait = RetryAfterOrBackoff(self.max_wait_s)

        def wait_for(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            requested = rate_limit_wait_s(getattr(error, "response", None))
            return min(requested, self.max_wait_s) if requested is not None else wait(state)

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.info(
                "external_retry",
                service=self.name,
                attempt=state.attempt_number,
                error=clip(str(error), 200),
                wait_s=round(state.upcoming_sleep, 2),
            )

        def worth_retrying(error: BaseException) -> bool:
            if not isinstance(error, ExternalServiceError) or not error.retryable:
                return False
            requested = rate_limit_wait_s(error.response)
            if requested is not None and requested > self.max_wait_s:
                return False  # the service asks for longer than we may wait: fail now, not after the cap
            return call.idempotent or error.delivered is False or error.status == 429

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_for,
            retry=retry_if_exception(worth_retrying),
            before_sleep=log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(call, host)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, call: _Call, host: str) -> httpx.Response:
        if (blocked := self._blocked_until.get(host, 0.0) - time.time()) > 0:
            if blocked > self.max_wait_s:
                raise ExternalServiceError(
                    self.name,
                    f"rate limit exhausted; it resets in {blocked:.0f} s",
                    retryable=False,
                    delivered=False,
                )
            await asyncio.sleep(blocked)
        started = time.monotonic()
        try:
            request = self.client.build_request(
                call.method,
                call.path,
                json=call.json,
                params=call.params,
                headers=call.headers,
                extensions=dict(call.extensions or {}),
            )
            response = await self.client.send(request, stream=True)
            try:
                body = await _read_capped(response, call.max_bytes)
            finally:
                await response.aclose()
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            EXTERNAL_REQUESTS.labels(service=self.name, outcome="unreachable").inc()
            where = self.base_url or httpx.URL(call.path).host
            raise ExternalServiceError(
                self.name, f"unreachable at {where}: {exc!r}", delivered=False
            ) from None
        except httpx.TimeoutException as exc:
            EXTERNAL_REQUESTS.labels(service=self.name, outcome="timeout").inc()
            raise ExternalServiceError(self.name, f"timed out after {self.timeout_s:g} s ({exc!r})") from None
        except httpx.HTTPError as exc:
            EXTERNAL_REQUESTS.labels(service=self.name, outcome="error").inc()
            raise ExternalServiceError(self.name, f"request failed: {exc!r}") from None
        finally:
            EXTERNAL_SECONDS.labels(service=self.name).observe(time.monotonic() - started)
        EXTERNAL_REQUESTS.labels(service=self.name, outcome=str(response.status_code)).inc()
        self._note_rate_limit(response, host)
        if body is None:
            raise ExternalServiceError(
                self.name, f"response larger than {call.max_bytes} bytes", status=response.status_code,
                retryable=False,
            )  # fmt: skip
        response = httpx.Response(
            response.status_code, headers=response.headers, content=body, request=response.request
        )
        if response.status_code in call.ok:
            return response
        raise ExternalServiceError(
            self.name, error_message(response), status=response.status_code, response=response
        )

    def _note_rate_limit(self, response: httpx.Response, host: str) -> None:
        """Remember an exhausted rate limit so later calls wait or fail fast instead of being refused."""
        remaining, reset = _rate_limit_headers(response)
        if remaining == "0" and reset:
            try:
                self._blocked_until[host] = float(reset)
            except ValueError:
                pass
            while len(self._blocked_until) > MAX_HOST_BREAKERS:
                self._blocked_until.pop(next(iter(self._blocked_until)))


def _breaker(
    name: str, fail_max: int, reset_timeout_s: float, report_state: bool = True
) -> AsyncCircuitBreaker:
    """A breaker that counts only failures worth retrying (a 404 or a refused URL says nothing of health)."""
    return AsyncCircuitBreaker(
        name,
        fail_max,
        reset_timeout_s,
        is_caller_error=lambda exc: isinstance(exc, ExternalServiceError) and not exc.retryable,
        report_state=report_state,
    )


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    json: Any
    params: Mapping[str, Any] | None
    headers: Mapping[str, str] | None
    ok: tuple[int, ...]
    idempotent: bool
    max_bytes: int | None
    extensions: Mapping[str, Any] | None


async def _read_capped(response: httpx.Response, max_bytes: int | None) -> bytes | None:
    """The body, or None once it exceeds ``max_bytes``."""
    if max_bytes is None:
        return await response.aread()
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        return None
    chunks, size = [], 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _rate_limit_headers(response: httpx.Response | None) -> tuple[str | None, str | None]:
    """(remaining, reset epoch seconds) from GitHub's ``x-ratelimit-*`` or X's ``x-rate-limit-*`` headers."""
    if response is None:
        return None, None
    headers = response.headers
    for prefix in ("x-ratelimit-", "x-rate-limit-"):
        if (remaining := headers.get(prefix + "remaining")) is not None:
            return remaining, headers.get(prefix + "reset")
    return None, None


class OptionalService:
    """Base of a client whose external service may be off: ``api`` is None until its settings turn it on.

    Subclasses (dataclasses with an ``api`` field) set ``service`` and ``how_to_enable``, and may describe a
    configured service more precisely by overriding ``describe``.
    """

    service: ClassVar[str]
    how_to_enable: ClassVar[str]
    api: ExternalApi | None

    @property
    def configured(self) -> bool:
        """Whether the service is set up."""
        return self.api is not None

    @property
    def status(self) -> str:
        """How the service is configured, or which settings turn it on (ListTools shows it)."""
        return f"off: {self.how_to_enable}" if self.api is None else self.describe(self.api)

    def describe(self, api: ExternalApi) -> str:
        """A configured service in a few words."""
        return f"{api.name} at {api.base_url}"

    def require(self) -> ExternalApi:
        """The API client.

        Raises:
            ServiceNotConfigured: The service is off; the message says how to turn it on.
        """
        if self.api is None:
            raise ServiceNotConfigured(self.service, self.how_to_enable)
        return self.api

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self.api is not None:
            await self.api.aclose()
