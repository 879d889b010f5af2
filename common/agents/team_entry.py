"""Wiring shared by the three team services: the uniform TeamService plus the team's own service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from marketing.team.v1 import team_pb2, team_pb2_grpc

from common.agents.team_graph import TeamDefinition, build_team_graph
from common.agents.team_service import TeamServicer
from common.config import Settings
from common.server import ServiceRegistration

TEAM_SERVICE_NAME = team_pb2.DESCRIPTOR.services_by_name["TeamService"].full_name

Teardown = list[Callable[[], Awaitable[None]]]


def team_registrations(
    team: TeamDefinition, settings: Settings, own_service: ServiceRegistration
) -> list[ServiceRegistration]:
    """Registrations for a team process: TeamService over the compiled subgraph, and the team's own service."""
    servicer = TeamServicer(team.name, build_team_graph(team, settings), settings)
    uniform = ServiceRegistration(
        TEAM_SERVICE_NAME, lambda server: team_pb2_grpc.add_TeamServiceServicer_to_server(servicer, server)
    )
    return [uniform, own_service]
