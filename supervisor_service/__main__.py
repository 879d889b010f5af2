"""Entry point: ``python -m supervisor_service``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

from marketing.admin.v1 import admin_pb2
from marketing.supervisor.v1 import review_pb2, supervisor_pb2, supervisor_pb2_grpc

from common.auth.authenticator import Authenticator
from common.auth.interceptor import AuthInterceptor, required_scopes_for
from common.auth.principal import Scope
from common.config import Settings
from common.server import ServiceParts, ServiceRegistration, run_service
from common.storage import open_checkpointer, open_store
from common.storage.database import Database
from common.team_client import TeamClient, report_breakers_in_health
from common.teams import TEAMS, TeamRegistry
from supervisor_service.admin import build_admin
from supervisor_service.budgets import Guards, build_guards
from supervisor_service.cancellation import cancel_team_effects, teams_used
from supervisor_service.graph import build_supervisor_graph
from supervisor_service.limits import LimitsLoader
from supervisor_service.queue import TaskIntake, TenantCap, build_intake, fixed_cap
from supervisor_service.retention import Eraser, RetentionPurge
from supervisor_service.review_servicer import REVIEW_SCOPES, Reviews, build_reviews
from supervisor_service.servicer import SupervisorServicer
from supervisor_service.team_audit import team_audit_reader
from supervisor_service.workflows import WorkflowRunner

SUPERVISOR_SERVICE = supervisor_pb2.DESCRIPTOR.services_by_name["SupervisorService"]
ADMIN_SERVICE = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]
REVIEW_SERVICE = review_pb2.DESCRIPTOR.services_by_name["ReviewService"]
SERVICE_NAME = SUPERVISOR_SERVICE.full_name
SECRETS_TIMEOUT_S = 10.0
TOOLS_TIMEOUT_S = 5.0

SUPERVISOR_SCOPES = {
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
"""The scope each SupervisorService RPC needs (AdminService needs marketing.admin throughout)."""


def required_scopes() -> dict[str, Scope]:
    """Every RPC the supervisor serves and the scope it needs (a method missing here is refused)."""
    return {
        **required_scopes_for(SUPERVISOR_SERVICE, SUPERVISOR_SCOPES),
        **required_scopes_for(ADMIN_SERVICE, {}, default=Scope.ADMIN),
        **required_scopes_for(REVIEW_SERVICE, REVIEW_SCOPES),
    }


def secrets_pusher(
    clients: Mapping[str, TeamClient], registry: TeamRegistry
) -> Callable[[str, Mapping[str, str]], Awaitable[None]]:
    """Hands a tenant's secrets to the teams that keep them (each gets only the names its TeamSpec lists)."""

    async def push(tenant_id: str, secrets: Mapping[str, str]) -> None:
        for team in registry:
            names = {name: value for name, value in secrets.items() if name in team.tenant_secrets}
            if names and team.name in clients:
                await clients[team.name].set_tenant_secrets(names, SECRETS_TIMEOUT_S)

    return push


def tool_lister(clients: Mapping[str, TeamClient]) -> Callable[[], Awaitable[set[str]]]:
    """The names of every team's tools (to validate a tenant's enabled tools)."""

    async def names() -> set[str]:
        answers = await asyncio.gather(*(c.list_tools(TOOLS_TIMEOUT_S) for c in clients.values()))
        return {tool.name for tools in answers for tool in tools}

    return names


async def build(
    settings: Settings,
    clients: dict[str, TeamClient] | None = None,
    registry: TeamRegistry = TEAMS,
    tenant_cap: TenantCap | None = None,
) -> ServiceParts:
    """The supervisor's servicers: SupervisorService over a breaker-guarded client per team of the registry, and
    AdminService (tenants, API keys, audit log); authentication in front of both; the records store, the
    checkpointer, the runner that resumes orphaned workflows and the retention purge.

    Args:
        settings: Process settings (``<TEAM>_ADDR`` says where each team is, ``AUTH_*`` how callers are checked).
        clients: Team clients to use instead (tests wire in-process teams this way).
        registry: The teams to route among.
        tenant_cap: How many submitted tasks of a tenant may run at once (``QUEUE_TENANT_MAX_RUNNING`` by
            default; the tenants' quotas plug in here).
    """
    resources = AsyncExitStack()
    clients = _team_clients(settings, clients, registry, resources)
    store = await open_store(settings, "supervisor", migrations=("supervisor_service",))
    resources.push_async_callback(store.close)
    checkpointer = await resources.enter_async_context(open_checkpointer(settings, "supervisor"))
    eraser: list[Eraser] = []  # built once the runner exists; DeleteTenant only runs after start-up
    admin = await build_admin(
        settings,
        store.db,
        erase_tenant_data=lambda tenant: eraser[0].erase_tenant_workflows(tenant),
        push_tenant_secrets=secrets_pusher(clients, registry),
        known_tools=tool_lister(clients),
        team_audit=team_audit_reader(clients, registry),
    )
    runner = WorkflowRunner(
        build_supervisor_graph(settings, clients, checkpointer, registry),
        store,
        settings,
        on_abandoned=lambda workflow: cancel_team_effects(clients, teams_used(workflow), workflow.id),
        profile_of=admin.store.profile_of,
    )
    guards, intake = await _guards_and_intake(
        settings, store.db, runner, admin.store.limits_of, resources, tenant_cap
    )
    eraser.append(Eraser(runner, clients, audit=admin.store.record_event, quotas=guards.admission.store))
    reviews = build_reviews(
        settings, store.db, runner, admin.store.profile_of, admin.store.record_event, intake
    )
    resources.push_async_callback(reviews.close)
    purge = RetentionPurge(eraser[0], admin.store.retention_policies, settings.retention_purge_interval_s)
    authenticator = Authenticator.from_settings(settings, admin.store)
    resources.push_async_callback(authenticator.aclose)
    parts = _parts(
        settings, runner, clients, eraser[0], purge, admin.registration, authenticator, resources, guards
    )
    _add_reviews(parts, reviews)
    _add_intake(parts, intake)
    parts.authenticates_callers = not settings.auth_disabled and bool(
        settings.auth_issuer or settings.auth_jwks_url or await admin.store.has_active_api_keys()
    )
    return parts


def _team_clients(
    settings: Settings,
    clients: dict[str, TeamClient] | None,
    registry: TeamRegistry,
    resources: AsyncExitStack,
) -> dict[str, TeamClient]:
    """A client per team of the registry (unless given), closed with the service."""
    if clients is None:
        clients = {team: TeamClient(team, settings.team_addr(team), settings) for team in registry.names}
    for client in clients.values():
        resources.push_async_callback(client.close)
    return clients


async def _guards_and_intake(
    settings: Settings,
    database: Database,
    runner: WorkflowRunner,
    limits_of: LimitsLoader,
    resources: AsyncExitStack,
    tenant_cap: TenantCap | None,
) -> tuple[Guards, TaskIntake]:
    """Budgets, quotas and rate limits, and the task intake whose per-tenant running cap is the tenant's
    ``concurrent_workflows`` quota (else ``QUEUE_TENANT_MAX_RUNNING``) unless ``tenant_cap`` says otherwise."""
    guards = await build_guards(settings, database, limits_of, resources)
    runner.admission = guards.admission  # claimed orphans keep their tenant's monthly quota
    cap = tenant_cap or fixed_cap(settings, guards.admission.limits.concurrent_workflow_cap)
    return guards, await build_intake(settings, runner, database, cap, guards.admission)


def _add_reviews(parts: ServiceParts, reviews: Reviews) -> None:
    """Serve ReviewService and run the review desk (expiry sweep) until the service stops."""
    parts.registrations.append(reviews.registration)
    parts.before_stop.insert(0, reviews.desk.stop)
    reviews.desk.start()


def _add_intake(parts: ServiceParts, intake: TaskIntake) -> None:
    """Serve the queue RPCs, take deliveries once serving, and stop taking them after the runner stopped (so that
    the interrupted workflows stay running in the records, for redelivery elsewhere)."""
    for registration in parts.registrations:
        servicer = getattr(registration.register, "servicer", None)
        if isinstance(servicer, SupervisorServicer):
            servicer.intake = intake
    parts.before_stop.append(intake.stop)
    parts.after_start.append(lambda running: intake.start())


def _parts(
    settings: Settings,
    runner: WorkflowRunner,
    clients: dict[str, TeamClient],
    eraser: Eraser,
    purge: RetentionPurge,
    admin_registration: ServiceRegistration,
    authenticator: Authenticator,
    resources: AsyncExitStack,
    guards: Guards,
) -> ServiceParts:
    """Start the background loops and assemble the servicers, their interceptors and the shutdown hooks."""
    servicer = SupervisorServicer(runner, settings, clients, eraser, guards.admission)
    registration = ServiceRegistration(SERVICE_NAME, _Registrar(servicer))
    runner.start()
    purge.start()
    return ServiceParts(
        [registration, admin_registration],
        on_stop=[resources.aclose],
        before_stop=[purge.stop, runner.prepare_stop],
        after_start=[lambda running: report_breakers_in_health(running.health, clients)],
        interceptors=[AuthInterceptor(authenticator, required_scopes()), guards.rate_limit],
    )


class _Registrar:
    """Adds the SupervisorService servicer to a server (and keeps it reachable for wiring)."""

    def __init__(self, servicer: SupervisorServicer) -> None:
        self.servicer = servicer

    def __call__(self, server: Any) -> None:
        supervisor_pb2_grpc.add_SupervisorServiceServicer_to_server(self.servicer, server)


def main() -> None:
    """Run the supervisor until SIGTERM or SIGINT."""
    run_service(TEAMS.supervisor.name, build)


if __name__ == "__main__":
    main()
