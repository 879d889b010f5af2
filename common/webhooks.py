"""Signed webhooks: POST an event to a caller's URL, retried with exponential backoff, every attempt recorded.

The request body is JSON ``{"id": <delivery id>, "type": <event type>, "created": <unix seconds>, "data": {...}}``
with these headers:

- ``Webhook-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is HMAC-SHA256 with ``WEBHOOK_SECRET`` as the
  key over ``f"{t}.{raw body}"`` (Stripe's scheme). A receiver recomputes it over the raw body it received, compares
  in constant time and refuses a ``t`` older than a few minutes (replays); ``verify()`` does all three.
- ``Webhook-Id``: the same for every attempt of one event (a receiver deduplicates on it: delivery is at least once).
- ``Webhook-Event``: the event type.

Event types: ``workflow.completed`` (a submitted workflow finished, whatever its status: ``data.status`` says which)
and ``review.required`` (a workflow waits for a human review; sent by the review flow with the same ``send``).

Any 2xx answer ends the retries; anything else (another status, a timeout, a refused connection) is retried after
``backoff_s``, then twice that, and so on, up to ``max_attempts``. The URL is checked like a fetched page
(``common/tools/addresses.py``): http(s) only, and every address it resolves to must be public unless
``WEBHOOK_ALLOW_PRIVATE_NETWORKS=true``; the request is pinned to the checked address.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from common.config import Settings
from common.logging import get_logger
from common.tools.addresses import Address, UnresolvableHost, is_public, literal_address, pin, resolve

log = get_logger(__name__)

SIGNATURE_HEADER = "Webhook-Signature"
ID_HEADER = "Webhook-Id"
EVENT_HEADER = "Webhook-Event"
WORKFLOW_COMPLETED = "workflow.completed"
REVIEW_REQUIRED = "review.required"
EVENT_TYPES = frozenset({WORKFLOW_COMPLETED, REVIEW_REQUIRED})
DEFAULT_TOLERANCE_S = 300.0
MAX_URL_CHARS = 2000


class WebhookRefused(ValueError):
    """The URL may not receive webhooks (scheme, private address, unresolvable host)."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Webhook-Signature`` header value of a body sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: str, header: str, body: bytes, tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None
) -> bool:
    """Whether a ``Webhook-Signature`` header signs this raw body with ``secret`` and is at most ``tolerance_s``
    old (what a receiver runs)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))


def url_problem(url: str, allow_private: bool) -> str | None:
    """What is wrong with a webhook URL without resolving it (for request validation), or None."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"not a URL: {exc}"
    if len(url) > MAX_URL_CHARS:
        return f"longer than {MAX_URL_CHARS} characters"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return "must be an http:// or https:// URL with a host"
    address = literal_address(parsed.host)
    if address is not None and not allow_private and not is_public(address):
        return f"{parsed.host} is not a public address (WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows it)"
    if parsed.host == "localhost" and not allow_private:
        return "localhost is not a public address (WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows it)"
    return None


async def check_url(url: str, allow_private: bool) -> Address:
    """The address to send to: refuse a URL that is not http(s) or whose host resolves to a non-public address.

    Raises:
        WebhookRefused: The URL may not receive webhooks.
    """
    problem = url_problem(url, allow_private)
    if problem:
        raise WebhookRefused(problem)
    parsed = httpx.URL(url)
    try:
        addresses = await resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))
    except UnresolvableHost as exc:
        raise WebhookRefused(str(exc)) from None
    if not addresses:
        raise WebhookRefused(f"{parsed.host} has no address")
    for address in addresses:
        if not allow_private and not is_public(address):
            raise WebhookRefused(f"{parsed.host} resolves to a non-public address ({address})")
    return addresses[0]


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST of one event (``status_code`` 0: no HTTP answer; ``error`` says why)."""

    delivery_id: str
    subject: str
    event_type: str
    url: str
    attempt: int
    status_code: int
    error: str
    tenant_id: str = ""

    @property
    def delivered(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status_code < 300


Recorder = Callable[[DeliveryAttempt], Awaitable[None]]
"""Stores a delivery attempt (the supervisor keeps them in ``webhook_deliveries``)."""


async def _no_record(attempt: DeliveryAttempt) -> None:
    return None


@dataclass
class WebhookSender:
    """Sends signed events; one instance per process (it keeps a connection pool)."""

    secret: str
    max_attempts: int = 6
    backoff_s: float = 1.0
    timeout_s: float = 10.0
    allow_private: bool = False
    record: Recorder = _no_record
    transport: httpx.AsyncBaseTransport | None = None
    _client: httpx.AsyncClient | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, record: Recorder = _no_record) -> WebhookSender | None:
        """The process's sender; None without ``WEBHOOK_SECRET`` (webhooks are off: nothing unsigned is sent)."""
        if not settings.webhook_secret:
            return None
        return cls(
            settings.webhook_secret,
            max_attempts=settings.webhook_max_attempts,
            backoff_s=settings.webhook_backoff_s,
            timeout_s=settings.webhook_timeout_s,
            allow_private=settings.webhook_allow_private_networks,
            record=record,
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout_s, transport=self.transport, follow_redirects=False
            )
        return self._client

    async def send(
        self,
        url: str,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        subject: str = "",
        tenant_id: str = "",
        delivery_id: str | None = None,
    ) -> DeliveryAttempt:
        """POST one event until a 2xx answer or ``max_attempts``; returns the last attempt. Never raises for the
        receiver's failures (they are recorded); a refused URL is recorded once and not retried.

        Args:
            url: The receiver (checked against private addresses on every attempt).
            event_type: ``workflow.completed``, ``review.required``, ...
            payload: The event's ``data`` (JSON-serializable).
            subject: What the event is about (a workflow id), for the records.
            tenant_id: Whose event it is, for the records.
            delivery_id: ``Webhook-Id``; a new one by default.
        """
        delivery_id = delivery_id or str(uuid.uuid4())
        created = int(time.time())
        body = json.dumps(
            {"id": delivery_id, "type": event_type, "created": created, "data": dict(payload)}, sort_keys=True
        ).encode()
        last = None
        for attempt in range(1, self.max_attempts + 1):
            status, error, retry = await self._post(url, event_type, body, delivery_id)
            last = DeliveryAttempt(delivery_id, subject, event_type, url, attempt, status, error, tenant_id)
            await self.record(last)
            if last.delivered or not retry:
                break
            if attempt < self.max_attempts:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        assert last is not None
        log.info(
            "webhook_sent" if last.delivered else "webhook_failed",
            event_type=event_type,
            subject=subject,
            attempts=last.attempt,
            status_code=last.status_code,
        )
        return last

    async def _post(self, url: str, event_type: str, body: bytes, delivery_id: str) -> tuple[int, str, bool]:
        """One attempt: (status code, error, whether to retry)."""
        try:
            address = await check_url(url, self.allow_private)
        except WebhookRefused as exc:
            return 0, f"refused: {exc}", False
        target, headers, extensions = pin(url, address)
        headers.update(
            {
                "content-type": "application/json",
                SIGNATURE_HEADER: sign(self.secret, body, int(time.time())),
                ID_HEADER: delivery_id,
                EVENT_HEADER: event_type,
                "user-agent": "marketing-agents-webhooks/1",
            }
        )
        try:
            response = await self._http().post(target, content=body, headers=headers, extensions=extensions)
        except httpx.HTTPError as exc:
            return 0, f"{type(exc).__name__}: {exc}"[:500], True
        return response.status_code, "" if response.is_success else response.text[:200], True

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
