"""Entry point: ``python -m supervisor_service``."""

from __future__ import annotations

from contextlib import AsyncExitStack

from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc

from common.config import Settings
from common.server import ServiceParts, ServiceRegistration, run_service
from common.storage import open_checkpointer, open_store
from common.team_client import TeamClient, report_breakers_in_health
from common.teams import TEAMS, TeamRegistry
from supervisor_service.cancellation import cancel_team_effects, teams_used
from supervisor_service.graph import build_supervisor_graph
from supervisor_service.servicer import SupervisorServicer
from supervisor_service.workflows import WorkflowRunner

SERVICE_NAME = supervisor_pb2.DESCRIPTOR.services_by_name["SupervisorService"].full_name


async def build(
    settings: Settings, clients: dict[str, TeamClient] | None = None, registry: TeamRegistry = TEAMS
) -> ServiceParts:
    """The supervisor's servicer: a breaker-guarded client per team of the registry, the records store, the
    checkpointer and the runner that resumes orphaned workflows.

    Args:
        settings: Process settings (``<TEAM>_ADDR`` says where each team is).
        clients: Team clients to use instead (tests wire in-process teams this way).
        registry: The teams to route among.
    """
    resources = AsyncExitStack()
    if clients is None:
        clients = {team: TeamClient(team, settings.team_addr(team), settings) for team in registry.names}
    for client in clients.values():
        resources.push_async_callback(client.close)
    store = await open_store(settings, "supervisor")
    resources.push_async_callback(store.close)
    checkpointer = await resources.enter_async_context(open_checkpointer(settings, "supervisor"))
    runner = WorkflowRunner(
        build_supervisor_graph(settings, clients, checkpointer, registry),
        store,
        settings,
        on_abandoned=lambda workflow: cancel_team_effects(clients, teams_used(workflow), workflow.id),
    )
    servicer = SupervisorServicer(runner, settings, clients)
    registration = ServiceRegistration(
        SERVICE_NAME,
        lambda server: supervisor_pb2_grpc.add_SupervisorServiceServicer_to_server(servicer, server),
    )
    runner.start()
    return ServiceParts(
        [registration],
        on_stop=[resources.aclose],
        before_stop=[runner.prepare_stop],
        after_start=[lambda running: report_breakers_in_health(running.health, clients)],
    )


def main() -> None:
    """Run the supervisor until SIGTERM or SIGINT."""
    run_service(TEAMS.supervisor.name, build)


if __name__ == "__main__":
    main()
