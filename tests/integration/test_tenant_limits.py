"""A tenant's budgets, quotas and rate limits through AdminService, and what they do to its tasks (issue 16)."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from marketing.admin.v1 import admin_pb2, admin_pb2_grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2

from tests.conftest import authenticated_stack, bad_request_fields, test_settings

TASK = "Research the vector database market"


def _update(tenant: admin_pb2.Tenant, *paths: str) -> admin_pb2.UpdateTenantRequest:
    return admin_pb2.UpdateTenantRequest(
        tenant=tenant, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
    )


async def test_limits_are_set_by_platform_admins_and_shape_every_task() -> None:
    settings = test_settings(auth_disabled=False, tenant_limits_cache_s=0)
    async with authenticated_stack(settings, ["platform", "acme"]) as (channel, keys):
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        tasks = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        # A tenant's own administrator may not raise its own ceiling or quotas...
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.UpdateTenant(
                _update(
                    admin_pb2.Tenant(id="acme", quotas=admin_pb2.TenantQuotas(tasks_per_day=9)), "quotas"
                ),
                metadata=keys["acme"],
                timeout=10,
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # ...but may choose its default budget; the platform sets the ceiling.
        ceiling = admin_pb2.Tenant(id="acme", budget_ceiling=team_pb2.Budget(max_model_calls=3))
        await admin.UpdateTenant(_update(ceiling, "budget_ceiling"), metadata=keys["platform"], timeout=10)
        default = admin_pb2.Tenant(id="acme", default_budget=team_pb2.Budget(max_tokens=10_000_000))
        updated = (
            await admin.UpdateTenant(_update(default, "default_budget"), metadata=keys["acme"], timeout=10)
        ).tenant
        assert updated.budget_ceiling.max_model_calls == 3
        assert updated.default_budget.max_tokens == 10_000_000
        shown = (
            await admin.GetTenant(admin_pb2.GetTenantRequest(tenant_id="acme"), metadata=keys["acme"])
        ).tenant
        assert (
            shown.budget_ceiling == updated.budget_ceiling and shown.default_budget == updated.default_budget
        )

        # A task asking for more than the ceiling gets the ceiling; one asking for nothing gets the default
        # (capped by the ceiling too).
        greedy = supervisor_pb2.RunTaskRequest(task=TASK, budget=team_pb2.Budget(max_model_calls=100))
        workflow = (await tasks.RunTask(greedy, metadata=keys["acme"], timeout=60)).workflow
        assert workflow.budget.max_model_calls == 3
        assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_BUDGET_EXCEEDED
        assert workflow.usage.model_calls == 3
        plain = (
            await tasks.RunTask(supervisor_pb2.RunTaskRequest(task=TASK), metadata=keys["acme"])
        ).workflow
        assert (plain.budget.max_tokens, plain.budget.max_model_calls) == (10_000_000, 3)


async def test_negative_limits_are_invalid_argument() -> None:
    settings = test_settings(auth_disabled=False)
    async with authenticated_stack(settings, ["platform", "acme"]) as (channel, keys):
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        bad = admin_pb2.Tenant(
            id="acme",
            quotas=admin_pb2.TenantQuotas(monthly_cost_usd=-1),
            rate_limits=admin_pb2.RateLimits(tenant_rps=-2),
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.UpdateTenant(
                _update(bad, "quotas", "rate_limits"), metadata=keys["platform"], timeout=10
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        fields = bad_request_fields(caught.value)
        assert {"tenant.quotas.monthly_cost_usd", "tenant.rate_limits.tenant_rps"} <= set(fields)


async def test_api_key_rate_limit_answers_resource_exhausted_with_retry_info() -> None:
    settings = test_settings(auth_disabled=False, tenant_limits_cache_s=0)
    async with authenticated_stack(settings, ["platform", "acme"]) as (channel, keys):
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        limits = admin_pb2.Tenant(
            id="acme", rate_limits=admin_pb2.RateLimits(api_key_rps=0.1, api_key_burst=2)
        )
        await admin.UpdateTenant(_update(limits, "rate_limits"), metadata=keys["platform"], timeout=10)
        tasks = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        request = supervisor_pb2.ListWorkflowsRequest()
        for _ in range(2):
            await tasks.ListWorkflows(request, metadata=keys["acme"], timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await tasks.ListWorkflows(request, metadata=keys["acme"], timeout=10)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        status = rpc_status.from_call(caught.value)
        assert status is not None
        failure, retry = error_details_pb2.QuotaFailure(), error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(failure) and status.details[1].Unpack(retry)
        assert failure.violations[0].description == "api_key_rps"
        assert failure.violations[0].subject.startswith("api_key:")
        assert 5 < retry.retry_delay.ToMilliseconds() / 1000 <= 10
        # The platform's own key is not limited by acme's settings.
        await tasks.ListWorkflows(request, metadata=keys["platform"], timeout=10)
