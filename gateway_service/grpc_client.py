"""The gateway's gRPC client of the supervisor: one channel, a deadline on every call, the caller's credential
forwarded as ``authorization`` metadata and the W3C trace context propagated (OpenTelemetry client interceptors);
each call counted in ``grpc_client_handled_total`` (gateway_service/metrics.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from marketing.admin.v1 import admin_pb2_grpc
from marketing.supervisor.v1 import review_pb2_grpc, supervisor_pb2_grpc

from common.config import Settings
from common.telemetry import client_interceptors
from common.tls import aio_channel, tls_files
from gateway_service.metrics import observed_call, observed_stream

SERVICES = ("supervisor", "review", "admin")


@dataclass
class Supervisor:
    """Stubs of the supervisor's three services over one channel.

    Attributes:
        channel: The channel (owned by whoever created it).
        timeout_s: The deadline of each unary call.
        wait_timeout_s: The deadline of waits: ``?wait=true``, event streams, ResumeWorkflow.
    """

    channel: grpc.aio.Channel
    timeout_s: float
    wait_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        self.stubs: dict[str, Any] = {
            "supervisor": supervisor_pb2_grpc.SupervisorServiceStub(self.channel),
            "review": review_pb2_grpc.ReviewServiceStub(self.channel),
            "admin": admin_pb2_grpc.AdminServiceStub(self.channel),
        }

    async def call(
        self,
        service: str,
        method: str,
        request: Message,
        credential: str | None,
        timeout_s: float | None = None,
    ) -> Any:
        """A unary call with the caller's credential; raises ``grpc.aio.AioRpcError`` on a gRPC error."""
        stub_method = getattr(self.stubs[service], method)
        call = stub_method(request, timeout=timeout_s or self.timeout_s, metadata=metadata(credential))
        return await observed_call(service, method, call)

    def stream(
        self, service: str, method: str, request: Message, credential: str | None, timeout_s: float
    ) -> AsyncIterator[Any]:
        """A server-streaming call (its deadline is ``timeout_s``)."""
        stub_method = getattr(self.stubs[service], method)
        call: AsyncIterator[Any] = stub_method(request, timeout=timeout_s, metadata=metadata(credential))
        return observed_stream(service, method, call)


def well_formed(credential: str) -> bool:
    """Whether a credential can travel as gRPC metadata (visible ASCII, bounded length)."""
    return 0 < len(credential) <= 8192 and all(0x21 <= ord(c) <= 0x7E for c in credential)


def metadata(credential: str | None) -> tuple[tuple[str, str], ...]:
    """The call metadata carrying the caller's bearer credential (none when the caller sent none or one that
    cannot be a credential: the supervisor then answers UNAUTHENTICATED)."""
    if credential is not None and not well_formed(credential):
        credential = None
    return (("authorization", f"Bearer {credential}"),) if credential else ()


def open_channel(settings: Settings) -> grpc.aio.Channel:
    """A channel to the supervisor (``GATEWAY_SUPERVISOR_ADDR``; mutual TLS when ``TLS_*`` are set)."""
    options = [("grpc.max_receive_message_length", settings.grpc_max_message_bytes)]
    return aio_channel(
        settings.gateway_supervisor_addr, tls_files(settings), options, interceptors=client_interceptors()
    )
