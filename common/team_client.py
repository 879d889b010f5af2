"""The supervisor's client for one team: the TeamService stub behind that team's circuit breaker.

Every call has a deadline; ``UNAVAILABLE`` is retried with backoff, within the deadline, a bounded number of times:
before the first response always, after it only for calls with an idempotency key. No other code is retried. Only
infrastructure failures count against the breaker. A team address may name several replicas; calls are balanced
round-robin across them.

Every call carries the bound principal's tenant and subject (``x-marketing-tenant``, ``x-marketing-subject``): the
team acts for that tenant only. Code acting for a tenant outside a call (a resumed workflow, the retention purge)
binds ``system_principal(tenant)`` first.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import grpc
from grpc_health.v1 import health, health_pb2
from marketing.team.v1 import team_pb2, team_pb2_grpc

from common.auth.principal import SUBJECT_METADATA, TENANT_METADATA, current_principal
from common.config import Settings
from common.errors import CircuitOpenError, TeamCallError
from common.logging import get_logger
from common.resilience import STATE_OPEN, AsyncCircuitBreaker, BreakerOpen, StateChangeCallback
from common.telemetry import client_interceptors
from common.tls import aio_channel, tls_files

log = get_logger(__name__)

INFRASTRUCTURE_CODES = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL", "UNKNOWN"}
)


def is_caller_error(exc: BaseException) -> bool:
    """True for failures caused by the request itself, which say nothing about the team's health."""
    return isinstance(exc, TeamCallError) and exc.code not in INFRASTRUCTURE_CODES


# Reconnect quickly to a team that comes back: gRPC's default backoff grows to two minutes, longer than a breaker's
# reset timeout, so a half-open trial would fail on a stale channel even though the team is serving again.
INITIAL_RECONNECT_BACKOFF_MS = 100
MAX_RECONNECT_BACKOFF_MS = 1_000


# Spread calls over every address a team's target resolves to (`ipv4:a,b`, `dns:///name` of a headless
# Service). Retries stay in TeamClient rather than a retryPolicy here: one retry layer, counted by the breaker and
# reported in the team run's attempts.
SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def channel_options(settings: Settings) -> list[tuple[str, Any]]:
    """Channel arguments: round-robin balancing, explicit message limits, keepalive, fast reconnect."""
    return [
        ("grpc.service_config", SERVICE_CONFIG),
        ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
        ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.initial_reconnect_backoff_ms", INITIAL_RECONNECT_BACKOFF_MS),
        ("grpc.min_reconnect_backoff_ms", INITIAL_RECONNECT_BACKOFF_MS),
        ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
        ("grpc.enable_retries", 0),
    ]


MAX_SUBJECT_CHARS = 256


def identity_metadata() -> tuple[tuple[str, str], ...]:
    """The metadata that tells a team whom a call is for: the bound principal's tenant and subject (nothing when
    no principal is bound; the team then refuses the call unless AUTH_DISABLED=true)."""
    principal = current_principal()
    if principal is None:
        return ()
    subject = principal.subject
    if not (subject.isascii() and subject.isprintable()):
        subject = quote(subject, safe="")  # metadata values are printable ASCII
    return (TENANT_METADATA, principal.tenant_id), (SUBJECT_METADATA, subject[:MAX_SUBJECT_CHARS])


@dataclass
class CallStats:
    """What happened during one team call (filled in by the client as the call goes)."""

    attempts: int = 0


class TeamClient:
    """Calls one team's ``marketing.team.v1.TeamService``."""

    def __init__(
        self, team: str, address: str, settings: Settings, on_state_change: StateChangeCallback | None = None
    ) -> None:
        self.team = team
        self.address = address
        self.max_attempts = settings.team_call_max_attempts
        self.backoff_s = settings.team_retry_backoff_s
        self.breaker = AsyncCircuitBreaker(
            name=team,
            fail_max=settings.breaker_fail_max,
            reset_timeout_s=settings.breaker_reset_timeout_s,
            is_caller_error=is_caller_error,
            on_state_change=on_state_change,
        )
        # Mutual TLS when TLS_* are set: the supervisor presents its certificate and verifies the team's.
        self._channel = aio_channel(
            address,
            tls_files(settings),
            options=channel_options(settings),
            interceptors=client_interceptors(),
        )
        self._stub = team_pb2_grpc.TeamServiceStub(self._channel)

    @property
    def channel(self) -> grpc.aio.Channel:
        """The channel to the team's service (for the team's own RPCs besides TeamService)."""
        return self._channel

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def list_tools(self, timeout_s: float) -> list[team_pb2.Tool]:
        """The team's tools (introspection: no breaker, no retries).

        Raises:
            grpc.aio.AioRpcError: The team did not answer.
        """
        response = await self._stub.ListTools(
            team_pb2.ListToolsRequest(), timeout=timeout_s, metadata=identity_metadata()
        )
        return list(response.tools)

    async def cancel_workflow(self, workflow_id: str, timeout_s: float) -> list[team_pb2.CancelledEffect]:
        """Ask the team to undo its side effects for a cancelled workflow (no breaker: it must be tried even
        while the team's breaker is open; idempotent, so no retries are needed for safety).

        Raises:
            grpc.aio.AioRpcError: The team did not answer.
        """
        request = team_pb2.CancelWorkflowRequest(workflow_id=workflow_id)
        response = await self._stub.CancelWorkflow(request, timeout=timeout_s, metadata=identity_metadata())
        return list(response.cancelled_effects)

    async def erase_workflow(self, workflow_id: str, timeout_s: float) -> int:
        """Ask the team to erase what it keeps for a workflow of the bound principal's tenant (no breaker, no
        retries: idempotent, and tried even while the breaker is open). Returns the records it erased.

        Raises:
            grpc.aio.AioRpcError: The team did not answer.
        """
        request = team_pb2.EraseWorkflowRequest(workflow_id=workflow_id)
        response = await self._stub.EraseWorkflow(request, timeout=timeout_s, metadata=identity_metadata())
        return int(response.erased_records)

    async def erase_tenant(self, timeout_s: float) -> int:
        """Ask the team to erase everything it keeps for the bound principal's tenant. Returns the records it
        erased.

        Raises:
            grpc.aio.AioRpcError: The team did not answer.
        """
        response = await self._stub.EraseTenant(
            team_pb2.EraseTenantRequest(), timeout=timeout_s, metadata=identity_metadata()
        )
        return int(response.erased_records)

    async def list_audit_events(
        self, page_size: int, before: tuple[datetime, str] | None, timeout_s: float
    ) -> list[team_pb2.AuditEvent]:
        """The bound principal's tenant's events in the team's own audit log, newest first, older than ``before``
        (time, id) (introspection: no breaker, no retries).

        Raises:
            grpc.aio.AioRpcError: The team did not answer.
        """
        request = team_pb2.ListAuditEventsRequest(page_size=page_size)
        if before is not None:
            request.before_time.FromDatetime(before[0])
            request.before_id = before[1]
        response = await self._stub.ListAuditEvents(request, timeout=timeout_s, metadata=identity_metadata())
        return list(response.audit_events)

    async def set_tenant_secrets(self, secrets: Mapping[str, str], timeout_s: float) -> list[str]:
        """Store the bound principal's tenant secrets that the team uses (an empty value deletes one). Returns the
        names of the secrets the team now holds (never their values).

        Raises:
            grpc.aio.AioRpcError: The team did not answer or refused a secret.
        """
        request = team_pb2.SetTenantSecretsRequest(secrets=dict(secrets))
        response = await self._stub.SetTenantSecrets(request, timeout=timeout_s, metadata=identity_metadata())
        return list(response.names)

    async def stream_brief(
        self,
        brief: team_pb2.Brief,
        timeout_s: float,
        stream_text: bool = False,
        idempotency_key: str = "",
        stats: CallStats | None = None,
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        """Run a brief on the team and stream its events.

        Args:
            brief: The curated brief.
            timeout_s: Time budget for the whole call, retries included.
            stream_text: Ask the team to stream its workers' generated text too.
            idempotency_key: Identifies the piece of work, so that a repeated call is answered once.
            stats: Receives the number of attempts made.

        Raises:
            CircuitOpenError: The breaker is open; the team was not called.
            TeamCallError: The call failed; ``code`` names the gRPC status.
        """
        deadline = time.monotonic() + timeout_s
        try:
            async with self.breaker.guard():
                request = team_pb2.StreamBriefRequest(
                    brief=brief, stream_text=stream_text, idempotency_key=idempotency_key
                )
                async for event in self._attempts(request, deadline, stats or CallStats()):
                    yield event
        except BreakerOpen:
            raise CircuitOpenError(self.team) from None

    async def _backoff(self, delay_s: float) -> None:
        """Wait before a retry: the full delay when the channel is connected (the server said UNAVAILABLE),
        otherwise until the channel reconnects or the delay passes, whichever comes first."""
        if self._channel.get_state() == grpc.ChannelConnectivity.READY:
            await asyncio.sleep(delay_s)
            return
        try:
            await asyncio.wait_for(self._channel.channel_ready(), delay_s)
        except TimeoutError:
            pass

    async def _attempts(
        self, request: team_pb2.StreamBriefRequest, deadline: float, stats: CallStats
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        attempt = 0
        metadata = identity_metadata()
        while True:
            attempt += 1
            stats.attempts = attempt
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TeamCallError(self.team, "DEADLINE_EXCEEDED", "no time left for the call", attempt - 1)
            received = False
            try:
                async for event in self._stub.StreamBrief(
                    request, timeout=remaining, wait_for_ready=False, metadata=metadata
                ):
                    received = True
                    yield event
                return
            except grpc.aio.AioRpcError as exc:
                code = exc.code().name
                delay = self.backoff_s * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
                # Before any answer a retry is always safe; after a partial answer only when the call carries an
                # idempotency key (the next replica replays, resumes or reruns that piece of work).
                retryable = (
                    code == "UNAVAILABLE"
                    and (not received or bool(request.idempotency_key))
                    and attempt < self.max_attempts
                )
                if retryable and time.monotonic() + delay < deadline:
                    log.info(
                        "team_call_retry", team=self.team, attempt=attempt, code=code, delay_s=round(delay, 3)
                    )
                    await self._backoff(delay)
                    continue
                raise TeamCallError(self.team, code, exc.details() or code, attempt) from None


DEPENDENCY_HEALTH_PREFIX = "dependency."


def dependency_status(breaker_state: str) -> int:
    """Health status of a team dependency: NOT_SERVING while its breaker is open, SERVING otherwise."""
    if breaker_state == STATE_OPEN:
        return health_pb2.HealthCheckResponse.NOT_SERVING
    return health_pb2.HealthCheckResponse.SERVING


async def report_breakers_in_health(
    health_servicer: health.aio.HealthServicer, clients: Mapping[str, TeamClient]
) -> None:
    """Mirror each team's breaker in the health service as ``dependency.<team>`` from now on.

    The overall status ("") is left alone: a supervisor with an open breaker still answers, with partial results.
    """
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Future[None]] = set()

    def publish(service: str, state: str) -> None:
        task = asyncio.ensure_future(health_servicer.set(service, dependency_status(state)))
        pending.add(task)
        task.add_done_callback(pending.discard)

    for team, client in clients.items():
        service = DEPENDENCY_HEALTH_PREFIX + team

        def changed(_name: str, state: str, service: str = service) -> None:
            loop.call_soon_threadsafe(publish, service, state)

        client.breaker.on_state_change = changed
        await health_servicer.set(service, dependency_status(client.breaker.state))
