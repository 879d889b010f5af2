"""DeleteTenant erases the tenant's quota counters and running-workflow slots in the shared quota store, on every
backend (the quotas.sqlite file, PostgreSQL, Redis), and leaves another tenant's alone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from marketing.admin.v1 import admin_pb2, admin_pb2_grpc

from common.config import Settings
from common.quotas import QuotaStore, RedisQuotaStore, open_quota_store
from common.storage import open_store
from tests.conftest import tenant_api_key
from tests.integration.queue_stack import queue_settings, queue_stack

REDIS_URL = "redis://127.0.0.1:6379/0"
QUOTA_BACKENDS = ["sqlite", "postgres", "redis"]


@asynccontextmanager
async def quota_backend(backend: str) -> AsyncIterator[Settings]:
    """Stack settings whose quota store is ``backend`` (Redis beside SQLite records; PostgreSQL records hold their
    own quota tables)."""
    records = "postgres" if backend == "postgres" else "sqlite"
    extra = {"redis_url": REDIS_URL} if backend == "redis" else {}
    async with queue_settings("embedded", records, **extra) as settings:
        yield settings


@asynccontextmanager
async def shared_quotas(settings: Settings) -> AsyncIterator[QuotaStore]:
    """The quota store the stack's processes share, opened as another process would."""
    records = await open_store(settings, "supervisor", migrations=("supervisor_service",))
    quotas = await open_quota_store(settings, records.db)
    try:
        yield quotas
    finally:
        await quotas.close()
        await records.close()


async def _fill(quotas: QuotaStore, tenant_id: str, now: datetime) -> None:
    """A day's task counted (the quota of one is used up), spend this month, a running-workflow slot held."""
    assert await quotas.take_task(tenant_id, 1, now)
    await quotas.add_spend(tenant_id, 1.25, 4000, now)
    assert await quotas.acquire_slot(tenant_id, "wf-running", 1, 3600, now)


@pytest.mark.parametrize("backend", QUOTA_BACKENDS)
async def test_delete_tenant_erases_its_quota_counters_and_only_its_own(backend: str) -> None:
    suffix = uuid.uuid4().hex[:8]  # Redis is shared with other test runs
    doomed, other = f"doomed-{suffix}", f"other-{suffix}"
    now = datetime.now(UTC)
    async with quota_backend(backend) as settings, queue_stack(settings) as stack:
        platform = await tenant_api_key(settings, settings.auth_platform_tenant)
        await tenant_api_key(settings, doomed)
        await tenant_api_key(settings, other)
        async with shared_quotas(settings) as quotas:
            if backend == "redis":
                assert isinstance(quotas, RedisQuotaStore)
            for tenant_id in (doomed, other):
                await _fill(quotas, tenant_id, now)
            assert not await quotas.take_task(doomed, 1, now), "the day's quota of one is used up"

            admin = admin_pb2_grpc.AdminServiceStub(stack.channel)
            await admin.DeleteTenant(admin_pb2.DeleteTenantRequest(tenant_id=doomed), metadata=platform)

            spent = await quotas.monthly_spend(doomed, now)
            assert (spent.cost_usd, spent.tokens) == (0.0, 0)
            assert await quotas.take_task(doomed, 1, now), "the day's task counter is gone"
            assert await quotas.acquire_slot(doomed, "wf-new", 1, 3600, now), "the held slot is gone"
            kept = await quotas.monthly_spend(other, now)
            assert (kept.cost_usd, kept.tokens) == (1.25, 4000)
            assert not await quotas.take_task(other, 1, now), "the other tenant's counter is intact"
            assert not await quotas.acquire_slot(other, "wf-new", 1, 3600, now), "and its slot"
            if isinstance(quotas, RedisQuotaStore):
                await quotas.erase_tenant(doomed)  # the checks above wrote some again
                assert [k async for k in quotas.client.scan_iter(match=f"{quotas.prefix}:{doomed}:*")] == []
                await quotas.erase_tenant(other)


async def test_redis_erasure_matches_no_other_tenant_whose_id_starts_alike() -> None:
    import redis.asyncio as redis

    prefix = f"test-quota-{uuid.uuid4().hex[:8]}"
    quotas = RedisQuotaStore(redis.from_url(REDIS_URL), prefix)
    now = datetime.now(UTC)
    try:
        for tenant_id in ("acme", "acme-eu", "acm"):
            await _fill(quotas, tenant_id, now)
        assert await quotas.erase_tenant("acme") == 3  # tasks, spend, slots
        assert (await quotas.monthly_spend("acme", now)).tokens == 0
        assert (await quotas.monthly_spend("acme-eu", now)).tokens == 4000
        assert (await quotas.monthly_spend("acm", now)).tokens == 4000
    finally:
        for tenant_id in ("acme", "acme-eu", "acm"):
            await quotas.erase_tenant(tenant_id)
        await quotas.close()
