"""AuthInterceptor on a real grpc.aio server: statuses with google.rpc.ErrorInfo (also through grpcurl), scopes, the
principal bound inside unary and streaming handlers, open health and reflection, and the server spans."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from common.auth.authenticator import Authenticator
from common.auth.interceptor import AuthInterceptor, required_scopes_for
from common.auth.jwt_tokens import JwtVerifier
from common.auth.principal import Principal, Scope, current_principal, current_tenant
from common.server import ErrorMappingInterceptor
from tests.fakes.api_keys import InMemoryApiKeys
from tests.fakes.oidc import FakeIssuer, claims_for, rsa_key

AUDIENCE = "marketing-api"
KEY = rsa_key("k1")
SERVICE = supervisor_pb2.DESCRIPTOR.services_by_name["SupervisorService"]
RUN = "/marketing.supervisor.v1.SupervisorService/RunTask"
TABLE = {
    "RunTask": Scope.TASKS_WRITE,
    "StreamTask": Scope.TASKS_WRITE,
    "ResumeWorkflow": Scope.TASKS_WRITE,
    "CancelWorkflow": Scope.TASKS_WRITE,
    "DeleteWorkflow": Scope.TASKS_WRITE,
    "GetWorkflow": Scope.TASKS_READ,
    "ListWorkflows": Scope.TASKS_READ,
    "ListTools": Scope.TASKS_READ,
    "SubmitTask": Scope.TASKS_WRITE,
    "WatchWorkflow": Scope.TASKS_READ,
    "ListDeadLetters": Scope.ADMIN,
    "RequeueDeadLetter": Scope.ADMIN,
}
GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")


class EchoSupervisor(supervisor_pb2_grpc.SupervisorServiceServicer):
    """Answers with the principal bound while it runs (tenant in the workflow id, subject in the task)."""

    def __init__(self) -> None:
        self.seen: list[Principal | None] = []

    async def RunTask(self, request: Any, context: Any) -> supervisor_pb2.RunTaskResponse:
        principal = current_principal()
        self.seen.append(principal)
        assert principal is not None
        return supervisor_pb2.RunTaskResponse(
            workflow=supervisor_pb2.Workflow(id=principal.tenant_id, task=principal.actor)
        )

    async def StreamTask(
        self, request: Any, context: Any
    ) -> AsyncIterator[supervisor_pb2.StreamTaskResponse]:
        for sequence in range(1, 4):
            await asyncio.sleep(0)
            yield supervisor_pb2.StreamTaskResponse(workflow_id=current_tenant(), sequence=sequence)

    async def GetWorkflow(self, request: Any, context: Any) -> supervisor_pb2.GetWorkflowResponse:
        return supervisor_pb2.GetWorkflowResponse(workflow=supervisor_pb2.Workflow(id=current_tenant()))

    async def ListTools(self, request: Any, context: Any) -> supervisor_pb2.ListToolsResponse:
        raise AssertionError("never reached: ListTools is left out of this server's scope table")


@dataclass
class Stack:
    port: int
    channel: grpc.aio.Channel
    stub: supervisor_pb2_grpc.SupervisorServiceStub
    servicer: EchoSupervisor
    keys: InMemoryApiKeys
    issuer: FakeIssuer
    spans: InMemorySpanExporter

    def token(self, tenant: str = "acme", scope: str = "marketing.tasks.write", **extra: Any) -> str:
        return KEY.sign(claims_for(self.issuer.issuer, AUDIENCE, tenant=tenant, scope=scope, **extra))

    def server_span(self, method: str) -> ReadableSpan:
        [span] = [s for s in self.spans.get_finished_spans() if s.name == method]
        return span


@pytest.fixture(scope="module")
def issuer() -> Iterator[FakeIssuer]:
    with FakeIssuer([KEY]) as fake:
        yield fake


@pytest.fixture(scope="module")
async def stack(issuer: FakeIssuer) -> AsyncIterator[Stack]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    keys = InMemoryApiKeys()
    authenticator = Authenticator(JwtVerifier(AUDIENCE, issuer=issuer.issuer), keys)
    table = {k: v for k, v in required_scopes_for(SERVICE, TABLE).items() if not k.endswith("/ListTools")}
    server = grpc.aio.server(
        interceptors=[
            aio_server_interceptor(tracer_provider=provider),
            AuthInterceptor(authenticator, table),
            ErrorMappingInterceptor(),
        ]
    )
    servicer = EchoSupervisor()
    supervisor_pb2_grpc.add_SupervisorServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE.full_name, "grpc.health.v1.Health", reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Stack(
        port, channel, supervisor_pb2_grpc.SupervisorServiceStub(channel), servicer, keys, issuer, spans
    )
    await channel.close()
    await server.stop(0)
    await authenticator.aclose()


def bearer(credential: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {credential}"),)


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    assert status is not None, "no google.rpc.Status in the trailers"
    [detail] = status.details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    return info


async def refused(call: Any) -> tuple[grpc.StatusCode, str, str]:
    """The code, ErrorInfo reason and message of a refused call."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        result = await call if not hasattr(call, "__aiter__") else [r async for r in call]
        raise AssertionError(f"not refused: {result}")
    info = error_info(caught.value)
    assert info.domain == "marketing"
    return caught.value.code(), info.reason, caught.value.details() or ""


RUN_REQUEST = supervisor_pb2.RunTaskRequest(task="write a post")


async def test_a_call_without_credentials_is_unauthenticated(stack: Stack) -> None:
    code, reason, message = await refused(stack.stub.RunTask(RUN_REQUEST))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "missing_credentials")
    assert "Bearer" in message


@pytest.mark.parametrize(
    ("credential", "reason"),
    [
        ("garbage", "malformed_token"),
        ("mka_0123456789ab_" + "x" * 43, "unknown_api_key"),
        ("expired", "token_expired"),
        ("other audience", "bad_audience"),
    ],
)
async def test_bad_credentials_are_unauthenticated_with_their_reason(
    stack: Stack, credential: str, reason: str
) -> None:
    if credential == "expired":
        credential = stack.token(lifetime_s=-3600)
    elif credential == "other audience":
        credential = stack.token(aud="another-api")
    code, got, _ = await refused(stack.stub.RunTask(RUN_REQUEST, metadata=bearer(credential)))
    assert (code, got) == (grpc.StatusCode.UNAUTHENTICATED, reason)


async def test_two_authorization_headers_are_refused(stack: Stack) -> None:
    metadata = (*bearer(stack.token()), *bearer(stack.token(tenant="globex")))
    code, reason, _ = await refused(stack.stub.RunTask(RUN_REQUEST, metadata=metadata))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "missing_credentials")


async def test_a_token_with_the_scope_runs_as_its_principal(stack: Stack) -> None:
    response = await stack.stub.RunTask(RUN_REQUEST, metadata=bearer(stack.token(tenant="acme")))
    assert (response.workflow.id, response.workflow.task) == ("acme", "jwt:alice")
    assert current_principal() is None  # nothing leaks into the caller's context


async def test_an_api_key_without_the_scope_is_permission_denied_naming_it(stack: Stack) -> None:
    key = stack.keys.create("globex", {Scope.TASKS_READ.value})
    code, reason, message = await refused(stack.stub.RunTask(RUN_REQUEST, metadata=bearer(key)))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "missing_scope")
    assert "marketing.tasks.write" in message
    response = await stack.stub.GetWorkflow(supervisor_pb2.GetWorkflowRequest(), metadata=bearer(key))
    assert response.workflow.id == "globex"


async def test_a_failing_key_store_answers_unavailable(stack: Stack) -> None:
    key = stack.keys.create("acme", {Scope.TASKS_WRITE.value})
    stack.keys.fail_find = True
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stack.stub.RunTask(RUN_REQUEST, metadata=bearer(key))
    finally:
        stack.keys.fail_find = False
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "database" not in (caught.value.details() or "")


async def test_a_method_missing_from_the_table_is_refused(stack: Stack) -> None:
    call = stack.stub.ListTools(
        supervisor_pb2.ListToolsRequest(), metadata=bearer(stack.token(scope="marketing.admin"))
    )
    code, reason, message = await refused(call)
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "method_not_allowed")
    assert "ListTools" in message


async def test_a_stream_runs_with_its_principal_and_refuses_without_one(stack: Stack) -> None:
    request = supervisor_pb2.StreamTaskRequest(task="x")
    events = [e async for e in stack.stub.StreamTask(request, metadata=bearer(stack.token(tenant="initech")))]
    assert [(e.workflow_id, e.sequence) for e in events] == [("initech", 1), ("initech", 2), ("initech", 3)]
    code, reason, _ = await refused(stack.stub.StreamTask(request))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "missing_credentials")
    read_only = stack.token(scope="marketing.tasks.read")
    code, reason, _ = await refused(stack.stub.StreamTask(request, metadata=bearer(read_only)))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "missing_scope")


async def test_health_and_reflection_need_no_credentials(stack: Stack) -> None:
    answer = await health_pb2_grpc.HealthStub(stack.channel).Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    if GRPCURL:
        listing = await _grpcurl("-plaintext", f"127.0.0.1:{stack.port}", "list")
        assert SERVICE.full_name in listing.stdout


async def test_server_spans_carry_the_tenant_and_the_refusal_code(stack: Stack) -> None:
    stack.spans.clear()
    await stack.stub.RunTask(RUN_REQUEST, metadata=bearer(stack.token(tenant="umbrella")))
    assert stack.server_span(RUN).attributes["marketing.tenant_id"] == "umbrella"
    stack.spans.clear()
    await refused(stack.stub.RunTask(RUN_REQUEST))
    span = stack.server_span(RUN)
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert "marketing.tenant_id" not in (span.attributes or {})
    # (a caller's error, so the span status stays unset, per OpenTelemetry's gRPC server conventions)


@pytest.mark.skipif(GRPCURL is None, reason="grpcurl is not installed")
async def test_grpcurl_format_error_shows_the_error_info(stack: Stack) -> None:
    result = await _grpcurl(
        "-plaintext", "-format-error", "-d", '{"task": "x"}', f"127.0.0.1:{stack.port}", RUN.strip("/")
    )
    assert result.returncode != 0
    error = json.loads(result.stdout)
    assert error["code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    [detail] = error["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert (detail["reason"], detail["domain"]) == ("missing_credentials", "marketing")


@dataclass
class _Result:
    returncode: int
    stdout: str


async def _grpcurl(*args: str) -> _Result:
    assert GRPCURL is not None
    process = await asyncio.create_subprocess_exec(
        GRPCURL, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    return _Result(process.returncode or 0, stdout.decode())
