"""Wiring shared by the three team services: the uniform TeamService plus the team's own service."""

from __future__ import annotations

from contextlib import AsyncExitStack

from marketing.team.v1 import team_pb2, team_pb2_grpc

from common.agents.team_graph import TeamDefinition, build_team_graph
from common.agents.team_identity import team_interceptors
from common.agents.team_service import TeamServicer
from common.config import Settings
from common.quotas import open_quota_store
from common.server import ServiceParts, ServiceRegistration
from common.storage import Store, open_checkpointer, open_store

TEAM_SERVICE_NAME = team_pb2.DESCRIPTOR.services_by_name["TeamService"].full_name


async def build_team_service(
    team: TeamDefinition,
    settings: Settings,
    own_service: ServiceRegistration | None = None,
    store: Store | None = None,
) -> ServiceParts:
    """A team process's servicers: TeamService over the compiled subgraph (with its store and checkpointer for
    idempotent, resumable calls), and the team's own service when it has one, behind the team identity
    interceptor (every call acts for the tenant the supervisor names in its metadata). Without TLS the team accepts
    calls only from loopback (health and reflection excepted). The teardown closes the databases it opened (a
    ``store`` passed in, shared with the team's own service, stays the caller's to close)."""
    resources = AsyncExitStack()
    if store is None:
        store = await open_store(settings, team.name)
        resources.push_async_callback(store.close)
    checkpointer = await resources.enter_async_context(open_checkpointer(settings, team.name))
    quota_store = await open_quota_store(settings, store.db)
    resources.push_async_callback(quota_store.close)
    servicer = TeamServicer(
        team,
        build_team_graph(team, settings),
        settings,
        store=store,
        durable_graph=build_team_graph(team, settings, checkpointer),
        quota_store=quota_store,
    )
    uniform = ServiceRegistration(
        TEAM_SERVICE_NAME, lambda server: team_pb2_grpc.add_TeamServiceServicer_to_server(servicer, server)
    )
    return ServiceParts(
        [uniform, *([own_service] if own_service else [])],
        on_stop=[resources.aclose],
        interceptors=team_interceptors(settings),
    )
