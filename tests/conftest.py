"""Shared fixtures: settings, in-process gRPC servers on loopback, and helpers to reach them."""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_status import rpc_status

import common.server
from common.config import Settings, load_settings
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


@asynccontextmanager
async def in_process_stack(
    settings: Settings, registry: TeamRegistry = TEAMS
) -> AsyncIterator[grpc.aio.Channel]:
    """Every service of the registry in this process with the given settings; yields a channel to the
    supervisor (mutual TLS with the settings' certificate when they configure TLS)."""
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
