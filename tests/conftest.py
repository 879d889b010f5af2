"""Shared fixtures: settings, in-process gRPC servers on loopback, and helpers to reach them."""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_status import rpc_status

import common.server
from common.auth.principal import (
    ALL_SCOPES,
    SUBJECT_METADATA,
    TENANT_METADATA,
    AuthMethod,
    Principal,
    acting_as,
)
from common.config import Settings, load_settings
from common.interceptors import rewrap_handler
from common.server import Builder, RunningServer
from common.team_client import TeamClient
from common.teams import TEAMS, ServiceSpec, TeamRegistry
from common.tls import TlsFiles, aio_channel, tls_files


def test_settings(**overrides: Any) -> Settings:
    """Settings for tests: offline model, short timeouts, small breaker thresholds."""
    values: dict[str, Any] = {
        "llm_provider": "offline",
        "bind_host": "127.0.0.1",
        "team_call_timeout_s": 20.0,
        "task_timeout_s": 30.0,
        "team_retry_backoff_s": 0.05,
        "breaker_fail_max": 2,
        "breaker_reset_timeout_s": 30.0,
        "shutdown_grace_s": 1.0,
        "auth_disabled": True,  # loopback only; identity tests turn it off
        "data_dir": Path(tempfile.mkdtemp(prefix="marketing-test-data-")),
    }
    values.update(overrides)
    return load_settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def service_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway CA and the services' shared certificate (``python -m common.tls_certs``'s layout)."""
    from common.tls_certs import CA_FILE, CERT_FILE, KEY_FILE, default_names, leaf_names, write_bundle

    folder = tmp_path_factory.mktemp("tls")
    write_bundle(folder, leaf_names(default_names()))
    return TlsFiles(folder / CERT_FILE, folder / KEY_FILE, folder / CA_FILE)


def tls_overrides(tls: TlsFiles, **more: Any) -> dict[str, Any]:
    """Settings overrides that turn mutual TLS on with these files."""
    return {"tls_cert_file": tls.cert_file, "tls_key_file": tls.key_file, "tls_ca_file": tls.ca_file, **more}


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings shared by the in-process servers."""
    return test_settings()


async def start_service(name: str, build: Builder, settings: Settings) -> RunningServer:
    """Start one service in this process on a free loopback port (the services' own start-up path)."""
    return await common.server.start_service(name, build, settings, port=0, host="127.0.0.1")


def builder_of(spec: ServiceSpec) -> Builder:
    """A service's ``build`` function, from its package's ``__main__`` module."""
    return importlib.import_module(f"{spec.package}.__main__").build  # type: ignore[no-any-return]


async def start_teams(settings: Settings, registry: TeamRegistry = TEAMS) -> dict[str, RunningServer]:
    """Every team service of the registry, in-process, each on its own loopback port."""
    return {team.name: await start_service(team.name, builder_of(team), settings) for team in registry}


@pytest.fixture(scope="session")
async def team_servers(settings: Settings) -> AsyncIterator[dict[str, RunningServer]]:
    """The team services, shared by the tests that do not change their settings."""
    servers = await start_teams(settings)
    yield servers
    for server in servers.values():
        await server.stop(0)


TEST_TENANT_METADATA = "x-test-tenant"
"""Test-only metadata: the tenant whose caller a call is (``TestPrincipalInterceptor``)."""


def as_tenant(tenant_id: str, subject: str = "tester") -> tuple[tuple[str, str], ...]:
    """Call metadata that makes ``TestPrincipalInterceptor`` bind a caller of ``tenant_id`` with every scope."""
    return (TEST_TENANT_METADATA, tenant_id), (SUBJECT_METADATA, subject)


class TestPrincipalInterceptor(grpc.aio.ServerInterceptor):
    """Binds the principal of a call in tests, standing in for the authentication interceptors: a caller of the
    tenant in ``x-test-tenant`` (every scope), or, on a team, the tenant the supervisor sent in
    ``x-marketing-tenant``. A call with neither runs with no principal bound."""

    __test__ = False

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        metadata = {key: value for key, value in details.invocation_metadata or ()}
        if handler is None or not (metadata.get(TEST_TENANT_METADATA) or metadata.get(TENANT_METADATA)):
            return handler
        if TEST_TENANT_METADATA in metadata:
            principal = Principal(
                str(metadata[TEST_TENANT_METADATA]),
                str(metadata.get(SUBJECT_METADATA, "tester")),
                ALL_SCOPES,
                AuthMethod.API_KEY,
            )
        else:
            subject = str(metadata.get(SUBJECT_METADATA, "service"))
            principal = Principal(str(metadata[TENANT_METADATA]), subject, ALL_SCOPES, AuthMethod.SERVICE)

        def unary(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            async def bound(request: Any, context: Any) -> Any:
                with acting_as(principal):
                    return await behaviour(request, context)

            return bound

        def stream(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            async def bound(request: Any, context: Any) -> AsyncIterator[Any]:
                with acting_as(principal):
                    async for response in behaviour(request, context):
                        yield response

            return bound

        return rewrap_handler(handler, unary, stream)


@contextmanager
def extra_server_interceptors(interceptors: Sequence[grpc.aio.ServerInterceptor]) -> Iterator[None]:
    """Servers started inside the block get these interceptors after the shared ones."""
    if not interceptors:
        yield
        return
    shared = common.server.server_interceptors
    common.server.server_interceptors = lambda: [*shared(), *interceptors]  # type: ignore[assignment]
    try:
        yield
    finally:
        common.server.server_interceptors = shared  # type: ignore[assignment]


Metadata = tuple[tuple[str, str], ...]


async def tenant_api_key(
    settings: Settings, tenant_id: str, scopes: Sequence[str] = tuple(ALL_SCOPES)
) -> Metadata:
    """Create a tenant (unless it exists) and an API key of it in the supervisor's records, as an administrator
    would; returns the call metadata that carries the key."""
    from common.storage import open_store
    from supervisor_service.tenants import Audit, TenantStore

    store = await open_store(settings, "supervisor", migrations=("supervisor_service",))
    try:
        tenants = TenantStore(store.db)
        await tenants.ensure_tenant(tenant_id, actor="test")
        created = await tenants.create_api_key(tenant_id, "test key", scopes, Audit("test"))
    finally:
        await store.close()
    assert created is not None
    return (("authorization", f"Bearer {created[1]}"),)


@asynccontextmanager
async def authenticated_stack(
    settings: Settings, tenants: Sequence[str]
) -> AsyncIterator[tuple[grpc.aio.Channel, dict[str, Metadata]]]:
    """``in_process_stack`` with authentication on: each tenant gets an API key with every scope; yields the
    channel and each tenant's call metadata."""
    assert not settings.auth_disabled, "authenticated_stack needs test_settings(auth_disabled=False)"
    async with in_process_stack(settings) as channel:
        yield channel, {tenant: await tenant_api_key(settings, tenant) for tenant in tenants}


@asynccontextmanager
async def in_process_stack(
    settings: Settings,
    registry: TeamRegistry = TEAMS,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> AsyncIterator[grpc.aio.Channel]:
    """Every service of the registry in this process with the given settings; yields a channel to the
    supervisor (mutual TLS with the settings' certificate when they configure TLS). ``interceptors`` are added to
    every server of the stack (``[TestPrincipalInterceptor()]`` binds the principals of calls made with
    ``metadata=as_tenant(...)``)."""
    with extra_server_interceptors(interceptors):
        teams = await start_teams(settings, registry)
        addresses = {t: f"127.0.0.1:{s.port}" for t, s in teams.items()}
        supervisor, _ = await start_supervisor(settings, addresses, registry)
    try:
        async with aio_channel(f"127.0.0.1:{supervisor.port}", tls_files(settings)) as channel:
            yield channel
    finally:
        for server in (supervisor, *teams.values()):
            await server.stop(0)


async def start_supervisor(
    settings: Settings, addresses: Mapping[str, str], registry: TeamRegistry = TEAMS
) -> tuple[RunningServer, dict[str, TeamClient]]:
    """An in-process supervisor wired to the given team addresses; returns the server and its team clients."""
    from supervisor_service.__main__ import build

    clients = {team: TeamClient(team, addresses[team], settings) for team in registry.names}
    server = await start_service(registry.supervisor.name, lambda s: build(s, clients, registry), settings)
    return server, clients


@pytest.fixture(scope="session")
async def supervisor(
    settings: Settings, team_servers: dict[str, RunningServer]
) -> AsyncIterator[RunningServer]:
    """An in-process supervisor wired to the in-process teams."""
    server, _ = await start_supervisor(settings, {t: f"127.0.0.1:{s.port}" for t, s in team_servers.items()})
    yield server
    await server.stop(0)


@pytest.fixture
async def channel_to() -> AsyncIterator[Callable[[RunningServer], grpc.aio.Channel]]:
    """Opens aio channels to running servers and closes them after the test."""
    channels: list[grpc.aio.Channel] = []

    def open_channel(server: RunningServer) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        channels.append(channel)
        return channel

    yield open_channel
    for channel in channels:
        await channel.close()


def bad_request_fields(error: grpc.RpcError) -> dict[str, str]:
    """The google.rpc.BadRequest field violations carried by an INVALID_ARGUMENT error."""
    from google.rpc import error_details_pb2

    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status details"
    fields: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields.update({v.field: v.description for v in bad_request.field_violations})
    return fields
