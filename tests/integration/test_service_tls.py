"""Mutual TLS over real gRPC in this process: a task through every service, the handshakes that must fail, the server
name clients verify, the start-up rule, and the loopback-only rule of team services without TLS."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2, team_pb2_grpc

from common.agents.team_entry import TEAM_SERVICE_NAME
from common.errors import ConfigError, TeamCallError
from common.launcher import check_health
from common.server import RunningServer, ServiceRegistration, start_server
from common.team_client import TeamClient
from common.teams import TEAMS
from common.tls import TlsFiles, is_loopback_host
from common.tls_certs import CertificateAuthority
from tests.conftest import builder_of, in_process_stack, test_settings, tls_overrides
from tests.integration.fakes import QuickTeam

CAMPAIGN = (
    "Launch campaign for our open-source vector database: research competitors, write a blog article, "
    "and prepare LinkedIn and X posts"
)


async def test_a_campaign_runs_over_mutual_tls_through_every_service(service_tls: TlsFiles) -> None:
    settings = test_settings(**tls_overrides(service_tls))
    async with in_process_stack(settings) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        workflow = (await stub.RunTask(supervisor_pb2.RunTaskRequest(task=CAMPAIGN), timeout=30)).workflow
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, workflow.warnings
    assert [run.team for run in workflow.team_runs] == list(TEAMS.names)
    assert {artifact.team for artifact in workflow.artifacts} == set(TEAMS.names)
    assert not workflow.failed_teams


@pytest.fixture
async def tls_team(service_tls: TlsFiles) -> AsyncIterator[RunningServer]:
    """A TeamService on loopback through the services' own bootstrap, with mutual TLS."""
    settings = test_settings(**tls_overrides(service_tls))
    registration = ServiceRegistration(
        TEAM_SERVICE_NAME, lambda server: team_pb2_grpc.add_TeamServiceServicer_to_server(QuickTeam(), server)
    )
    server = await start_server("quick", [registration], settings, port=0, host="127.0.0.1")
    yield server
    await server.stop(0)


def credentials(ca_pem: bytes, client: CertificateAuthority | None = None) -> grpc.ChannelCredentials:
    """Client credentials trusting ``ca_pem``, presenting a certificate that ``client`` issued (none if None)."""
    if client is None:
        return grpc.ssl_channel_credentials(root_certificates=ca_pem)
    leaf = client.issue(["client", "localhost"])
    return grpc.ssl_channel_credentials(ca_pem, leaf.key_pem, leaf.certificate_pem)


async def health_status(target: str, creds: grpc.ChannelCredentials | None) -> str:
    channel = grpc.aio.secure_channel(target, creds) if creds else grpc.aio.insecure_channel(target)
    async with channel:
        try:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=3
            )
        except grpc.aio.AioRpcError as error:
            return error.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)


async def test_only_clients_with_a_certificate_of_the_ca_that_trust_the_servers_ca_get_in(
    tls_team: RunningServer, service_tls: TlsFiles
) -> None:
    target = f"127.0.0.1:{tls_team.port}"
    ca_pem = service_tls.ca_file.read_bytes()
    own = grpc.ssl_channel_credentials(
        ca_pem, service_tls.key_file.read_bytes(), service_tls.cert_file.read_bytes()
    )
    stranger = CertificateAuthority.create("another CA")
    assert await health_status(target, own) == "SERVING"
    assert await health_status(target, None) == "UNAVAILABLE", "plaintext"
    assert await health_status(target, credentials(ca_pem)) == "UNAVAILABLE", "no client certificate"
    assert await health_status(target, credentials(ca_pem, stranger)) == "UNAVAILABLE", (
        "a certificate of another CA"
    )
    # A client whose certificate the server would accept, but which does not trust the server's CA.
    distrustful = grpc.ssl_channel_credentials(
        stranger.certificate_pem, service_tls.key_file.read_bytes(), service_tls.cert_file.read_bytes()
    )
    assert await health_status(target, distrustful) == "UNAVAILABLE", "a server of an untrusted CA"
    # The launcher's health check speaks TLS with the files, and fails without them.
    assert await asyncio.to_thread(check_health, target, tls=service_tls) == "SERVING"
    assert await asyncio.to_thread(check_health, target) == "UNAVAILABLE"


async def test_the_supervisors_team_client_verifies_the_server_name(
    tls_team: RunningServer, service_tls: TlsFiles
) -> None:
    """The address's host (127.0.0.1) is in the certificate; TLS_SERVER_NAME replaces it with another name."""
    brief = team_pb2.Brief(task="anything")
    for server_name in (None, "marketing-agents"):
        settings = test_settings(**tls_overrides(service_tls, tls_server_name=server_name))
        client = TeamClient("quick", f"127.0.0.1:{tls_team.port}", settings)
        try:
            events = [event async for event in client.stream_brief(brief, 5)]
        finally:
            await client.close()
        assert events[-1].result.summary == "done", server_name
    settings = test_settings(
        **tls_overrides(service_tls, tls_server_name="not-in-the-certificate"), team_call_max_attempts=1
    )
    client = TeamClient("quick", f"127.0.0.1:{tls_team.port}", settings)
    try:
        with pytest.raises(TeamCallError) as error:
            [event async for event in client.stream_brief(brief, 5)]
    finally:
        await client.close()
    assert error.value.code == "UNAVAILABLE"


async def test_a_server_binds_beyond_loopback_only_with_tls(service_tls: TlsFiles) -> None:
    registration = ServiceRegistration(
        TEAM_SERVICE_NAME, lambda server: team_pb2_grpc.add_TeamServiceServicer_to_server(QuickTeam(), server)
    )
    with pytest.raises(
        ConfigError, match=r"BIND_HOST=0\.0\.0\.0 .*TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE"
    ):
        await start_server(
            "quick", [registration], test_settings(auth_disabled=False), port=0, host="0.0.0.0"
        )
    settings = test_settings(auth_disabled=False, **tls_overrides(service_tls))
    server = await start_server("quick", [registration], settings, port=0, host="0.0.0.0")
    try:
        status = await asyncio.to_thread(check_health, f"127.0.0.1:{server.port}", tls=service_tls)
        assert status == "SERVING"
    finally:
        await server.stop(0)


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (the source address of its default route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))  # UDP: no packet is sent
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if is_loopback_host(address) or address == "0.0.0.0" else address


async def test_a_team_without_tls_refuses_a_caller_beyond_loopback(service_tls: TlsFiles) -> None:
    """A real team's servicers and interceptors, bound past the start-up rule on every interface, called through
    the machine's non-loopback address."""
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    team = TEAMS.team(TEAMS.names[0])
    parts = await builder_of(team)(test_settings())
    assert any(getattr(i, "loopback_only", False) for i in parts.interceptors), "the loopback rule is on"
    server = grpc.aio.server(interceptors=parts.interceptors)
    for registration in parts.registrations:
        registration.register(server)
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("0.0.0.0:0")
    await server.start()
    try:
        assert await health_status(f"{address}:{port}", None) == "SERVING", "health is exempt"
        async with grpc.aio.insecure_channel(f"{address}:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await team_pb2_grpc.TeamServiceStub(channel).ListTools(team_pb2.ListToolsRequest(), timeout=5)
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "only from loopback" in (error.value.details() or "") and address in (
            error.value.details() or ""
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            tools = await team_pb2_grpc.TeamServiceStub(channel).ListTools(
                team_pb2.ListToolsRequest(), timeout=5
            )
        assert tools.tools, "a loopback caller is served"
    finally:
        await server.stop(0)
        for callback in parts.on_stop:
            await callback()
    # With TLS the certificate authenticates the caller: no loopback rule.
    parts = await builder_of(team)(test_settings(**tls_overrides(service_tls)))
    for callback in parts.on_stop:
        await callback()
    assert not any(getattr(i, "loopback_only", False) for i in parts.interceptors)
