"""The team identity interceptor: the principal a team call acts as, from the supervisor's metadata, bound inside
the handler's own task (unary and streaming), refusals with their reasons, and health left open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from common.agents.team_identity import TeamIdentityInterceptor, principal_from_metadata, team_interceptors
from common.auth.principal import (
    ALL_SCOPES,
    ANONYMOUS,
    SUBJECT_METADATA,
    TENANT_METADATA,
    AuthMethod,
    current_principal,
)
from common.config import load_settings
from common.errors import Unauthenticated
from common.server import ErrorMappingInterceptor

SERVICE = "test.identity.v1.Echo"


def _who() -> bytes:
    principal = current_principal()
    if principal is None:
        return b"nobody"
    return f"{principal.tenant_id}|{principal.subject}|{principal.method.value}".encode()


async def _unary(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    return _who()


async def _stream(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
    for _ in range(2):
        yield _who()


@asynccontextmanager
async def echo_server(
    interceptors: Sequence[grpc.aio.ServerInterceptor],
) -> AsyncIterator[grpc.aio.Channel]:
    """A real aio server with an unary and a streaming method that answer who the call acts as (raw bytes)."""
    server = grpc.aio.server(interceptors=list(interceptors))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    "Who": grpc.unary_unary_rpc_method_handler(_unary),
                    "WhoStream": grpc.unary_stream_rpc_method_handler(_stream),
                },
            ),
        )
    )
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(0)


def metadata(tenant: str | None = None, subject: str | None = None) -> tuple[tuple[str, str], ...]:
    pairs = []
    if tenant is not None:
        pairs.append((TENANT_METADATA, tenant))
    if subject is not None:
        pairs.append((SUBJECT_METADATA, subject))
    return tuple(pairs)


def reason_of(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None, "the refusal carries google.rpc.Status details"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    raise AssertionError("no ErrorInfo in the status details")


def test_the_principal_comes_from_the_metadata() -> None:
    principal = principal_from_metadata(metadata("acme", "jwt:alice"), auth_disabled=False)
    assert (principal.tenant_id, principal.subject) == ("acme", "jwt:alice")
    assert principal.method is AuthMethod.SERVICE and principal.scopes == ALL_SCOPES
    assert principal_from_metadata(metadata("acme"), auth_disabled=False).subject == "service"
    assert principal_from_metadata([(TENANT_METADATA, b"acme")], auth_disabled=False).tenant_id == "acme"
    assert principal_from_metadata(metadata("acme"), auth_disabled=True).tenant_id == "acme", (
        "metadata wins over AUTH_DISABLED"
    )
    assert principal_from_metadata((), auth_disabled=True) is ANONYMOUS


@pytest.mark.parametrize(
    ("pairs", "reason"),
    [
        ((), "missing_tenant"),
        (metadata(""), "missing_tenant"),
        (metadata(subject="jwt:alice"), "missing_tenant"),
        (metadata("Acme"), "bad_tenant"),
        (metadata("a"), "bad_tenant"),
        (metadata("acme/other"), "bad_tenant"),
        (metadata("*"), "bad_tenant"),
        (metadata("acme", "bad\x00subject"), "bad_subject"),
        (metadata("acme", "x" * 300), "bad_subject"),
    ],
)
def test_refusals_name_their_reason(pairs: tuple[tuple[str, str], ...], reason: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        principal_from_metadata(pairs, auth_disabled=False)
    assert caught.value.reason == reason


@pytest.mark.parametrize("identity_first", [True, False], ids=["before-error-mapping", "after-error-mapping"])
async def test_the_principal_is_bound_inside_unary_and_streaming_handlers(identity_first: bool) -> None:
    identity: list[grpc.aio.ServerInterceptor] = [TeamIdentityInterceptor(auth_disabled=False)]
    chain = (
        [*identity, ErrorMappingInterceptor()] if identity_first else [ErrorMappingInterceptor(), *identity]
    )
    async with echo_server(chain) as channel:
        who = channel.unary_unary(f"/{SERVICE}/Who")
        who_stream = channel.unary_stream(f"/{SERVICE}/WhoStream")
        assert await who(b"", metadata=metadata("acme", "jwt:alice")) == b"acme|jwt:alice|service"
        answers = [a async for a in who_stream(b"", metadata=metadata("globex", "api_key:k1"))]
        assert answers == [b"globex|api_key:k1|service"] * 2
        for call in (who(b""), who(b"", metadata=metadata("Not A Tenant"))):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert reason_of(caught.value) in {"missing_tenant", "bad_tenant"}
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [a async for a in who_stream(b"")]
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason_of(caught.value) == "missing_tenant"
        checked = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert checked.status == health_pb2.HealthCheckResponse.SERVING, "health needs no identity"


async def test_with_auth_disabled_a_call_without_metadata_is_the_default_tenants() -> None:
    async with echo_server(team_interceptors(load_settings(auth_disabled=True))) as channel:
        who = channel.unary_unary(f"/{SERVICE}/Who")
        assert await who(b"") == b"default|anonymous|disabled"
        assert await who(b"", metadata=metadata("acme")) == b"acme|service|service"


def test_team_interceptors_refuse_calls_without_metadata_by_default() -> None:
    [interceptor] = team_interceptors(load_settings())
    assert isinstance(interceptor, TeamIdentityInterceptor) and not interceptor.auth_disabled
