"""Two supervisor processes share one tenant's quota and rate limit (issue 16): the counters live in Redis and the
records in PostgreSQL, so what one replica lets in counts on the other."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from marketing.admin.v1 import admin_pb2
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc

from common.launcher import SERVICES, ServiceLauncher, free_port
from common.storage import open_store
from supervisor_service.limits import limits_blob
from supervisor_service.tenants import Audit, TenantStore
from tests.conftest import test_settings
from tests.integration.supervisor_stack import tenant_role

REDIS_URL = "redis://127.0.0.1:6379/0"
TASK = "Research the vector database market"


async def _tenant_with_key(dsn: str, tenant_id: str, limits: admin_pb2.Tenant) -> tuple[tuple[str, str], ...]:
    store = await open_store(
        test_settings(database_url=dsn), "supervisor", migrations=("supervisor_service",)
    )
    try:
        tenants = TenantStore(store.db)
        await tenants.ensure_tenant(tenant_id, actor="test")
        await tenants.update_tenant(tenant_id, Audit("test"), limits=limits_blob(limits))
        created = await tenants.create_api_key(
            tenant_id, "e2e", ["marketing.tasks.write", "marketing.tasks.read"], Audit("test")
        )
    finally:
        await store.close()
    assert created is not None
    return (("authorization", f"Bearer {created[1]}"),)


@pytest.fixture
async def two_supervisors(tmp_path: Path) -> AsyncIterator[tuple[ServiceLauncher, str]]:
    async with tenant_role("limits") as (dsn, _):
        launcher = ServiceLauncher(
            log_dir=tmp_path,
            ports={name: free_port() for name in SERVICES},
            metrics_ports={name: free_port() for name in SERVICES},
            env={
                "DATABASE_URL": dsn,
                "REDIS_URL": REDIS_URL,
                "AUTH_DISABLED": "false",
                "DATA_DIR": str(tmp_path),
            },
        )
        try:
            launcher.start("supervisor")  # migrates the schema first, then the second replica starts
            launcher.wait_serving(["supervisor"], timeout_s=60)
            launcher.start("supervisor", instance="supervisor-2", port=free_port(), metrics_port=free_port())
            launcher.start_all([n for n in SERVICES if n != "supervisor"], timeout_s=60)
            launcher.wait_serving(["supervisor-2"], timeout_s=60)
            yield launcher, dsn
        finally:
            launcher.stop_all()


def _quota(error: grpc.aio.AioRpcError) -> tuple[str, bool]:
    status = rpc_status.from_call(error)
    assert status is not None
    quota, retry = "", False
    for detail in status.details:
        if detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            failure = error_details_pb2.QuotaFailure()
            detail.Unpack(failure)
            quota = failure.violations[0].description
        retry = retry or detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR)
    return quota, retry


async def test_two_supervisor_processes_share_the_quota_and_the_rate_limit(
    two_supervisors: tuple[ServiceLauncher, str],
) -> None:
    launcher, dsn = two_supervisors
    addresses = [launcher.processes[n].address for n in ("supervisor", "supervisor-2")]
    suffix = uuid.uuid4().hex[:8]
    daily = await _tenant_with_key(
        dsn, f"daily-{suffix}", admin_pb2.Tenant(quotas=admin_pb2.TenantQuotas(tasks_per_day=2))
    )
    limited = await _tenant_with_key(
        dsn,
        f"rate-{suffix}",
        admin_pb2.Tenant(rate_limits=admin_pb2.RateLimits(tenant_rps=0.05, tenant_burst=3)),
    )
    channels = [grpc.aio.insecure_channel(a) for a in addresses]
    try:
        stubs = [supervisor_pb2_grpc.SupervisorServiceStub(c) for c in channels]
        # Tasks per day: one on each replica, then the third is refused whichever replica gets it.
        for stub in stubs:
            answer = await stub.RunTask(supervisor_pb2.RunTaskRequest(task=TASK), metadata=daily, timeout=60)
            assert answer.workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
        for stub in stubs:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.RunTask(supervisor_pb2.RunTaskRequest(task=TASK), metadata=daily, timeout=60)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert _quota(caught.value) == ("tasks_per_day", True)
        # Rate limit: a burst of 3 for the whole tenant, across both replicas (each alone would allow 3).
        request = supervisor_pb2.ListWorkflowsRequest(page_size=1)
        outcomes = []
        for i in range(6):
            try:
                await stubs[i % 2].ListWorkflows(request, metadata=limited, timeout=10)
                outcomes.append("ok")
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert _quota(error) == ("tenant_rps", True)
                outcomes.append("limited")
        assert outcomes == ["ok"] * 3 + ["limited"] * 3
    finally:
        await asyncio.gather(*(c.close() for c in channels))
