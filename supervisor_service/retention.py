"""Erasure and retention: a workflow erased everywhere (GDPR), a tenant's workflows erased, old workflows purged.

Erasing a workflow cancels it when it is still running, asks every team of the registry to erase what it keeps for
it (``TeamService/EraseWorkflow``, acting for the workflow's tenant: results, checkpoints, scheduled posts), then
deletes the supervisor's checkpoints (thread ``<tenant>/<workflow id>``) and records (the workflow, its agent
executions, stored team results). A team that cannot be reached is named in the answer; the records are erased
regardless. ``DeleteWorkflow`` and the retention purge share this path; each records an audit event through an
injected ``audit(tenant, actor, action, resource, details)`` callable.

The purge runs every ``RETENTION_PURGE_INTERVAL_S`` on each replica: for each tenant with a retention of N > 0 days
(from an injected ``tenants()`` callable), it erases the workflows created more than N days ago, acting as
``system_principal(tenant)``, and records one audit event per tenant and run with the count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from common.auth.principal import Principal, acting_as, system_principal
from common.errors import NotFound
from common.logging import get_logger
from common.quotas import QuotaStore
from common.storage.store import RUNNING
from common.team_client import TeamClient
from supervisor_service.workflows import WorkflowRunner

log = get_logger(__name__)

AuditLog = Callable[[str, str, str, str, Mapping[str, Any]], Awaitable[None]]
"""``audit(tenant_id, actor, action, resource, details)``: records who did what to which resource, and when."""
TenantRetention = Callable[[], Awaitable[Sequence[tuple[str, int]]]]
"""``tenants()``: every tenant with its retention in days (0: kept forever)."""

ERASE_TIMEOUT_S = 10.0  # per team call
PURGE_BATCH = 500  # workflows a tenant's purge erases per run at most (the next run continues)
DELETE_ACTION = "workflow.delete"
PURGE_ACTION = "workflow.purge"


async def no_audit(
    tenant_id: str, actor: str, action: str, resource: str, details: Mapping[str, Any]
) -> None:
    """The audit log when none is wired: records nothing."""


async def no_tenants() -> Sequence[tuple[str, int]]:
    """The tenants when no tenant store is wired: none, so nothing is purged."""
    return ()


@dataclass
class Erased:
    """What an erasure deleted: records across the services, and the teams that could not be asked."""

    records: int = 0
    unreachable_teams: list[str] = field(default_factory=list)


async def erase_on_teams(
    clients: Mapping[str, TeamClient], workflow_id: str | None, timeout_s: float = ERASE_TIMEOUT_S
) -> Erased:
    """Ask every team, concurrently, to erase a workflow (``workflow_id``) or the whole tenant (None) of the bound
    principal's tenant."""
    names = list(clients)
    answers = await asyncio.gather(
        *(
            clients[team].erase_workflow(workflow_id, timeout_s)
            if workflow_id is not None
            else clients[team].erase_tenant(timeout_s)
            for team in names
        ),
        return_exceptions=True,
    )
    erased = Erased()
    for team, answer in zip(names, answers, strict=True):
        if isinstance(answer, grpc.aio.AioRpcError):
            erased.unreachable_teams.append(team)
            log.warning("team_erase_failed", team=team, code=answer.code().name, error=answer.details() or "")
        elif isinstance(answer, BaseException):
            raise answer
        else:
            erased.records += answer
    return erased


class Eraser:
    """Erases workflows everywhere: DeleteWorkflow, DeleteTenant and the retention purge."""

    def __init__(
        self,
        runner: WorkflowRunner,
        clients: Mapping[str, TeamClient],
        audit: AuditLog = no_audit,
        timeout_s: float = ERASE_TIMEOUT_S,
        quotas: QuotaStore | None = None,
    ) -> None:
        """
        Args:
            runner: Cancels running workflows and erases the supervisor's checkpoints and records.
            clients: A client per team of the registry (each is asked to erase its part).
            audit: Records the erasures.
            timeout_s: Time each team gets to answer.
            quotas: The shared quota store (Redis, PostgreSQL or the quotas.sqlite file): DeleteTenant erases the
                tenant's counters and running-workflow slots there.
        """
        self.runner = runner
        self.clients = clients
        self.audit = audit
        self.timeout_s = timeout_s
        self.quotas = quotas

    async def erase_workflow(self, tenant_id: str, workflow_id: str) -> Erased:
        """Erase one workflow of a tenant everywhere (no audit event). The principal acting for the tenant must be
        bound: the team calls carry it.

        Raises:
            NotFound: The tenant has no workflow with that id.
        """
        record = await self.runner.store.get_workflow(tenant_id, workflow_id)
        if record is None:
            raise NotFound(f"workflow {workflow_id} not found")
        if record.status == RUNNING:
            await self.runner.cancel(tenant_id, workflow_id)
        erased = await erase_on_teams(self.clients, workflow_id, self.timeout_s)
        erased.records += await self.runner.forget(tenant_id, workflow_id)
        log.info(
            "workflow_erased",
            workflow_id=workflow_id,
            erased_records=erased.records,
            unreachable_teams=erased.unreachable_teams,
        )
        return erased

    async def delete_workflow(self, caller: Principal, workflow_id: str) -> Erased:
        """DeleteWorkflow: erase a workflow of the caller's tenant everywhere and record it in the audit log.

        Raises:
            NotFound: The caller's tenant has no workflow with that id.
        """
        erased = await self.erase_workflow(caller.tenant_id, workflow_id)
        details = {"erased_records": erased.records, "unreachable_teams": erased.unreachable_teams}
        await self.audit(caller.tenant_id, caller.actor, DELETE_ACTION, f"workflows/{workflow_id}", details)
        return erased

    async def erase_tenant_workflows(self, tenant_id: str) -> int:
        """DeleteTenant's part here: erase every workflow of a tenant everywhere, then ask every team to erase the
        whole tenant (``TeamService/EraseTenant``), sweep the tenant's remaining records and erase its quota
        counters (last: the teams charge spend until they are told). Acts as ``system_principal(tenant_id)``.
        Returns the number of workflows erased."""
        count, records = 0, 0
        unreachable: set[str] = set()
        with acting_as(system_principal(tenant_id)):
            for workflow_id in await self.runner.store.workflow_ids(tenant_id):
                done = await self._erase_if_present(tenant_id, workflow_id)
                count += done is not _ABSENT
                records += done.records
                unreachable.update(done.unreachable_teams)
            teams = await erase_on_teams(self.clients, None, self.timeout_s)
        records += teams.records + await self.runner.store.erase_tenant_records(tenant_id)
        quota_records = await self.quotas.erase_tenant(tenant_id) if self.quotas is not None else 0
        unreachable.update(teams.unreachable_teams)
        log.info(
            "tenant_workflows_erased",
            workflows=count,
            erased_records=records,
            erased_quota_records=quota_records,
            unreachable_teams=sorted(unreachable),
        )
        return count

    async def purge_tenant(self, tenant_id: str, retention_days: int, now: datetime | None = None) -> int:
        """Erase a tenant's workflows created more than ``retention_days`` ago (at most ``PURGE_BATCH`` per call),
        acting as ``system_principal(tenant_id)``; records one audit event when any was erased. Returns how many
        workflows were erased."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
        count, records, unreachable = 0, 0, set()
        with acting_as(system_principal(tenant_id)) as system:
            for workflow_id in await self.runner.store.workflows_older_than(tenant_id, cutoff, PURGE_BATCH):
                done = await self._erase_if_present(tenant_id, workflow_id)
                count += done is not _ABSENT
                records += done.records
                unreachable.update(done.unreachable_teams)
        if count:
            details = {
                "count": count,
                "retention_days": retention_days,
                "erased_records": records,
                "unreachable_teams": sorted(unreachable),
            }
            await self.audit(tenant_id, system.actor, PURGE_ACTION, "workflows", details)
            log.info("retention_purged", tenant_id=tenant_id, workflows=count, retention_days=retention_days)
        return count

    async def _erase_if_present(self, tenant_id: str, workflow_id: str) -> Erased:
        """Erase a workflow; one that is already gone (erased by another replica meanwhile) is skipped."""
        try:
            return await self.erase_workflow(tenant_id, workflow_id)
        except NotFound:
            return _ABSENT


_ABSENT = Erased()


class RetentionPurge:
    """The purge loop: every ``interval_s``, each tenant's workflows older than its retention are erased."""

    def __init__(self, eraser: Eraser, tenants: TenantRetention, interval_s: float) -> None:
        """
        Args:
            eraser: Erases the workflows (and records the audit events).
            tenants: Every tenant with its retention in days.
            interval_s: Time between two runs (``RETENTION_PURGE_INTERVAL_S``).
        """
        self.eraser = eraser
        self.tenants = tenants
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (its first run is right away)."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="retention-purge")

    async def stop(self) -> None:
        """Stop the loop (an erasure in progress is cancelled; the next start finishes the job)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run_once(self, now: datetime | None = None) -> dict[str, int]:
        """One pass over the tenants; returns the workflows erased per tenant (tenants with none left out)."""
        purged: dict[str, int] = {}
        for tenant_id, retention_days in await self.tenants():
            if retention_days <= 0:
                continue
            try:
                count = await self.eraser.purge_tenant(tenant_id, retention_days, now)
            except Exception:  # one tenant's failure must not stop the others' purge
                log.exception("retention_purge_failed", tenant_id=tenant_id)
                continue
            if count:
                purged[tenant_id] = count
        return purged

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # a database hiccup must not stop the loop
                log.exception("retention_purge_failed")
            await asyncio.sleep(self.interval_s)
