"""Tenant quotas (issue 16): the shared counters are atomic on every backend, admission answers RESOURCE_EXHAUSTED
with a QuotaFailure, and concurrent tasks overshoot a monthly dollar quota by at most one model call each."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from marketing.admin.v1 import admin_pb2
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc

from common.config import Price, Settings
from common.errors import QuotaExceeded
from common.llm.offline import OFFLINE_MODEL_NAME
from common.quotas import QuotaGate, Quotas, QuotaStore, RedisQuotaStore, SqlQuotaStore, open_quota_store
from common.storage import open_store
from supervisor_service.tenants import Audit, TenantStore
from tests.conftest import in_process_stack, test_settings
from tests.integration.supervisor_stack import tenant_role

REDIS_URL = "redis://127.0.0.1:6379/0"
CAMPAIGN = (
    "Launch campaign for our open-source vector database: research competitors, write a blog article, "
    "and prepare LinkedIn and X posts"
)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def quota_store(request: pytest.FixtureRequest) -> AsyncIterator[QuotaStore]:
    if request.param == "redis":
        import redis.asyncio as redis

        client = redis.from_url(REDIS_URL)
        prefix = f"test-quota-{uuid.uuid4().hex[:8]}"
        yield RedisQuotaStore(client, prefix)
        keys = [key async for key in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        return
    if request.param == "sqlite":
        store = await open_quota_store(test_settings())
        yield store
        await store.close()
        return
    async with tenant_role("quota") as (dsn, _):
        records = await open_store(test_settings(database_url=dsn), "supervisor")
        try:
            yield SqlQuotaStore(records.db)
        finally:
            await records.close()


async def test_concurrent_admissions_take_exactly_the_free_slots(quota_store: QuotaStore) -> None:
    taken = await asyncio.gather(
        *(quota_store.acquire_slot("acme", f"wf-{i}", 5, 600, NOW) for i in range(20))
    )
    assert sum(taken) == 5
    await quota_store.release_slot("acme", f"wf-{taken.index(True)}")
    assert await quota_store.acquire_slot("acme", "late", 5, 600, NOW)
    assert not await quota_store.acquire_slot("acme", "later", 5, 600, NOW)
    assert await quota_store.acquire_slot("other", "wf-0", 5, 600, NOW), "slots are per tenant"
    # A slot older than its lease no longer counts (a crashed replica cannot leak one for ever).
    assert await quota_store.acquire_slot("acme", "after", 5, 600, NOW + timedelta(seconds=601))


async def test_concurrent_tasks_take_exactly_the_days_quota(quota_store: QuotaStore) -> None:
    taken = await asyncio.gather(*(quota_store.take_task("acme", 7, NOW) for _ in range(20)))
    assert sum(taken) == 7
    assert await quota_store.take_task("acme", 7, NOW + timedelta(days=1)), "a new UTC day starts again"


async def test_spend_adds_up_per_tenant_and_month(quota_store: QuotaStore) -> None:
    await asyncio.gather(*(quota_store.add_spend("acme", 0.25, 100, NOW) for _ in range(8)))
    spent = await quota_store.monthly_spend("acme", NOW)
    assert (round(spent.cost_usd, 6), spent.tokens) == (2.0, 800)
    assert (await quota_store.monthly_spend("acme", NOW + timedelta(days=31))).cost_usd == 0
    assert (await quota_store.monthly_spend("other", NOW)).tokens == 0


async def test_the_gate_names_the_quota_and_says_when_to_retry(quota_store: QuotaStore) -> None:
    gate = QuotaGate(quota_store, 600)
    quotas = Quotas(tasks_per_day=1, monthly_cost_usd=1.0, concurrent_workflows=1)
    assert await gate.admit("acme", quotas, "a", NOW)
    with pytest.raises(QuotaExceeded) as busy:
        await gate.admit("acme", quotas, "b", NOW)
    assert busy.value.quota == "concurrent_workflows" and busy.value.waiting_helps
    await gate.release("acme", "a")
    with pytest.raises(QuotaExceeded) as daily:
        await gate.admit("acme", quotas, "c", NOW)
    assert daily.value.quota == "tasks_per_day"
    assert daily.value.retry_after_s == pytest.approx(12 * 3600)  # until the next UTC midnight
    assert await gate.admit("acme", Quotas(concurrent_workflows=1), "d", NOW), (
        "the refused task gave its slot back"
    )
    await quota_store.add_spend("acme", 1.5, 10, NOW)
    with pytest.raises(QuotaExceeded) as monthly:
        await gate.admit("acme", quotas, "e", NOW)
    assert monthly.value.quota == "monthly_cost_usd"
    details = {d.type_url.rsplit("/", 1)[-1] for d in monthly.value.details()}
    assert details == {"google.rpc.QuotaFailure", "google.rpc.RetryInfo"}


async def _set_limits(settings: Settings, tenant_id: str, tenant: admin_pb2.Tenant) -> None:
    from supervisor_service.limits import limits_blob

    store = await open_store(settings, "supervisor", migrations=("supervisor_service",))
    try:
        tenants = TenantStore(store.db)
        await tenants.ensure_tenant(tenant_id, actor="test")
        await tenants.update_tenant(tenant_id, Audit("test"), limits=limits_blob(tenant))
    finally:
        await store.close()


def _quota_failure(error: grpc.aio.AioRpcError) -> tuple[list[str], float | None]:
    status = rpc_status.from_call(error)
    assert status is not None
    quotas, retry = [], None
    for detail in status.details:
        if detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            failure = error_details_pb2.QuotaFailure()
            detail.Unpack(failure)
            quotas += [v.description for v in failure.violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            retry = info.retry_delay.ToMilliseconds() / 1000
    return quotas, retry


async def test_a_task_over_the_days_quota_is_resource_exhausted_with_quota_failure() -> None:
    settings = test_settings(tenant_limits_cache_s=0)
    await _set_limits(settings, "default", admin_pb2.Tenant(quotas=admin_pb2.TenantQuotas(tasks_per_day=1)))
    async with in_process_stack(settings) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        request = supervisor_pb2.RunTaskRequest(task="Research the vector database market")
        assert (
            await stub.RunTask(request, timeout=30)
        ).workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RunTask(request, timeout=30)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        quotas, retry = _quota_failure(caught.value)
        assert quotas == ["tasks_per_day"]
        assert retry is not None and 0 < retry <= 24 * 3600


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_twenty_concurrent_tasks_overshoot_the_monthly_dollar_quota_by_at_most_one_call_each(
    backend: str,
) -> None:
    # The offline model priced like a real one, so every model call costs money.
    settings = test_settings(
        tenant_limits_cache_s=0,
        llm_prices={OFFLINE_MODEL_NAME: Price(input=200.0, output=600.0)},
        redis_url=REDIS_URL if backend == "redis" else None,
    )
    if backend == "redis":  # the default tenant's month in the shared Redis starts empty
        import redis.asyncio as redis

        client = redis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter("marketing:quota:default:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    async with in_process_stack(settings) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        probe = (await stub.RunTask(supervisor_pb2.RunTaskRequest(task=CAMPAIGN), timeout=60)).workflow
        assert probe.usage.cost_usd > 0
        biggest_call = max(
            [s.usage.cost_usd for r in probe.team_runs for s in r.steps] + [probe.routing_usage.cost_usd]
        )
        quota = probe.usage.cost_usd * 3  # room for about three of the twenty tasks
        await _set_limits(
            settings, "default", admin_pb2.Tenant(quotas=admin_pb2.TenantQuotas(monthly_cost_usd=quota))
        )
        quota_store = await open_quota_store(settings)
        try:
            before = (await quota_store.monthly_spend("default", datetime.now(UTC))).cost_usd
            answers = await asyncio.gather(
                *(stub.RunTask(supervisor_pb2.RunTaskRequest(task=CAMPAIGN), timeout=120) for _ in range(20)),
                return_exceptions=True,
            )
            spent = (await quota_store.monthly_spend("default", datetime.now(UTC))).cost_usd
        finally:
            await quota_store.close()
    workflows = [a.workflow for a in answers if not isinstance(a, BaseException)]
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert all(
        isinstance(e, grpc.aio.AioRpcError) and _quota_failure(e)[0] == ["monthly_cost_usd"] for e in refused
    )
    stopped = [w for w in workflows if w.status == supervisor_pb2.WORKFLOW_STATUS_BUDGET_EXCEEDED]
    assert stopped, "the quota stopped running tasks"
    assert all(w.budget_exceeded.limit == "monthly_cost_usd" for w in stopped)
    charged = spent - before
    assert charged == pytest.approx(sum(w.usage.cost_usd for w in workflows), rel=1e-6)
    assert charged >= quota, "the tasks used the quota up"
    assert charged <= quota + len(workflows) * biggest_call + 1e-9


async def test_a_second_concurrent_workflow_over_the_quota_is_refused_until_the_first_ends() -> None:
    settings = test_settings(tenant_limits_cache_s=0, offline_llm_latency_ms=150)
    await _set_limits(
        settings, "default", admin_pb2.Tenant(quotas=admin_pb2.TenantQuotas(concurrent_workflows=1))
    )
    async with in_process_stack(settings) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        request = supervisor_pb2.RunTaskRequest(task="Research the vector database market")
        first = asyncio.ensure_future(stub.RunTask(request, timeout=60))
        await asyncio.sleep(0.5)  # admitted and running (each model call takes 150 ms)
        assert not first.done()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RunTask(request, timeout=60)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        quotas, retry = _quota_failure(caught.value)
        assert quotas == ["concurrent_workflows"] and retry is not None and retry > 0
        assert (await first).workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
        again = (await stub.RunTask(request, timeout=60)).workflow  # the slot was given back
        assert again.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
