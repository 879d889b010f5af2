"""Entry point: ``python -m supervisor_service``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc

from common.config import Settings
from common.server import ServiceRegistration, run_service
from common.team_client import TeamClient
from supervisor_service.graph import TEAMS, build_supervisor_graph
from supervisor_service.servicer import SupervisorServicer

SERVICE_NAME = supervisor_pb2.DESCRIPTOR.services_by_name["SupervisorService"].full_name


async def build(settings: Settings) -> tuple[list[ServiceRegistration], list[Callable[[], Awaitable[None]]]]:
    """The supervisor's servicer, wired to a breaker-guarded client per team."""
    clients = {team: TeamClient(team, settings.team_addr(team), settings) for team in TEAMS}
    servicer = SupervisorServicer(build_supervisor_graph(settings, clients), settings)
    registration = ServiceRegistration(
        SERVICE_NAME,
        lambda server: supervisor_pb2_grpc.add_SupervisorServiceServicer_to_server(servicer, server),
    )
    return [registration], [client.close for client in clients.values()]


def main() -> None:
    """Run the supervisor until SIGTERM or SIGINT."""
    run_service("supervisor", build)


if __name__ == "__main__":
    main()
