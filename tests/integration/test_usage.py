"""``AdminService/GetUsage`` (issue 16): totals equal the recorded executions plus the supervisor's routing, rows
group by day, team and model, external tool calls are priced, and one tenant never sees another's usage."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2
from marketing.admin.v1 import admin_pb2, admin_pb2_grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2

from common.config import Price
from common.llm.offline import OFFLINE_MODEL_NAME
from common.storage import open_store
from supervisor_service.usage import ROUTING, usage_report
from tests.conftest import authenticated_stack, bad_request_fields, test_settings

TASK = "Launch campaign for our vector database: research, a blog article and LinkedIn posts"


async def test_usage_equals_the_recorded_executions_and_stays_within_the_tenant() -> None:
    settings = test_settings(
        auth_disabled=False, llm_prices={OFFLINE_MODEL_NAME: Price(input=3.0, output=9.0)}
    )
    async with authenticated_stack(settings, ["acme", "globex"]) as (channel, keys):
        tasks = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        mine = [
            (
                await tasks.RunTask(
                    supervisor_pb2.RunTaskRequest(task=TASK), metadata=keys["acme"], timeout=60
                )
            ).workflow
            for _ in range(2)
        ]
        theirs = (
            await tasks.RunTask(supervisor_pb2.RunTaskRequest(task=TASK), metadata=keys["globex"], timeout=60)
        ).workflow
        recorded_cost, recorded_tokens = 0.0, 0
        for workflow in mine:
            answer = await tasks.GetWorkflow(
                supervisor_pb2.GetWorkflowRequest(workflow_id=workflow.id), metadata=keys["acme"], timeout=10
            )
            recorded_cost += (
                sum(e.usage.cost_usd for e in answer.agent_executions) + workflow.routing_usage.cost_usd
            )
            recorded_tokens += sum(
                e.usage.input_tokens + e.usage.output_tokens for e in answer.agent_executions
            )
            recorded_tokens += workflow.routing_usage.input_tokens + workflow.routing_usage.output_tokens

        by_day = await admin.GetUsage(
            admin_pb2.GetUsageRequest(tenant_id="acme"), metadata=keys["acme"], timeout=10
        )
        assert by_day.total.tasks == 2
        assert by_day.total.cost_usd == pytest.approx(recorded_cost) and recorded_cost > 0
        assert by_day.total.input_tokens + by_day.total.output_tokens == recorded_tokens
        assert by_day.total.model_calls == sum(w.usage.model_calls for w in mine)
        assert [r.key for r in by_day.rows] == [datetime.now(UTC).strftime("%Y-%m-%d")]

        by_team = await admin.GetUsage(
            admin_pb2.GetUsageRequest(tenant_id="acme", group_by=admin_pb2.USAGE_GROUPING_TEAM),
            metadata=keys["acme"],
            timeout=10,
        )
        assert {r.key for r in by_team.rows} == {ROUTING, "research", "content", "social"}
        assert sum(r.cost_usd for r in by_team.rows) == pytest.approx(by_day.total.cost_usd)
        by_model = await admin.GetUsage(
            admin_pb2.GetUsageRequest(tenant_id="acme", group_by=admin_pb2.USAGE_GROUPING_MODEL),
            metadata=keys["acme"],
            timeout=10,
        )
        assert [r.key for r in by_model.rows] == [OFFLINE_MODEL_NAME]
        assert by_model.rows[0].model_calls == by_day.total.model_calls

        # From the other tenant's side: acme's usage does not exist for globex, and globex sees only its own.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.GetUsage(
                admin_pb2.GetUsageRequest(tenant_id="acme"), metadata=keys["globex"], timeout=10
            )
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        own = await admin.GetUsage(
            admin_pb2.GetUsageRequest(tenant_id="globex"), metadata=keys["globex"], timeout=10
        )
        assert own.total.tasks == 1
        assert own.total.cost_usd == pytest.approx(theirs.usage.cost_usd)


async def test_a_reversed_range_is_invalid_argument() -> None:
    settings = test_settings(auth_disabled=False)
    async with authenticated_stack(settings, ["acme"]) as (channel, keys):
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.GetUsage(
                admin_pb2.GetUsageRequest(tenant_id="acme", start_time=now, end_time=now),
                metadata=keys["acme"],
                timeout=10,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "end_time" in bad_request_fields(caught.value)


async def test_external_calls_are_counted_per_team_and_priced() -> None:
    store = await open_store(test_settings(), "supervisor")
    try:
        now = datetime.now(UTC)
        for team, service, calls in (("research", "tavily", 3), ("content", "openai-images", 2)):
            workflow = supervisor_pb2.Workflow(
                id=str(uuid.uuid4()),
                task="t",
                usage=team_pb2.Usage(model_calls=1, cost_usd=0.5),
                team_runs=[
                    supervisor_pb2.TeamRun(team=team, usage=team_pb2.Usage(model_calls=1, cost_usd=0.5))
                ],
                external_calls=[team_pb2.ExternalCalls(team=team, service=service, calls=calls)],
            )
            await store.create_workflow("acme", workflow.id, "t", "me", workflow.SerializeToString())
        prices = {"tavily": 0.01, "openai-images": 0.04}
        report = await usage_report(
            store,
            "acme",
            now - timedelta(hours=1),
            now + timedelta(hours=1),
            admin_pb2.USAGE_GROUPING_TEAM,
            prices,
        )
        calls = {
            (r.key, c.service): (c.calls, round(c.cost_usd, 6)) for r in report.rows for c in r.tool_calls
        }
        assert calls == {("research", "tavily"): (3, 0.03), ("content", "openai-images"): (2, 0.08)}
        assert {c.service: c.calls for c in report.total.tool_calls} == {"tavily": 3, "openai-images": 2}
        assert report.total.tasks == 2 and report.total.cost_usd == pytest.approx(1.0)
        later = await usage_report(
            store,
            "acme",
            now + timedelta(hours=1),
            now + timedelta(hours=2),
            admin_pb2.USAGE_GROUPING_DAY,
            prices,
        )
        assert later.total.tasks == 0 and not later.rows
        assert (
            await usage_report(store, "globex", now - timedelta(hours=1), now + timedelta(hours=1), 0, prices)
        ).total.tasks == 0
    finally:
        await store.close()


async def test_a_teams_calls_to_a_search_api_reach_the_workflow_and_the_bill() -> None:
    from tests.fakes.search_apis import FakeTavily

    hits = [("Vector DB market 2026", "https://example.com/market", "The market grew 40%.")]
    with FakeTavily(hits) as tavily:
        settings = test_settings(
            auth_disabled=False,
            tavily_api_key="tvly-test",
            tavily_base_url=tavily.url,
            tool_prices={"tavily": 0.01},
        )
        async with authenticated_stack(settings, ["acme"]) as (channel, keys):
            tasks = supervisor_pb2_grpc.SupervisorServiceStub(channel)
            request = supervisor_pb2.RunTaskRequest(
                task="Research the vector database market and its competitors"
            )
            workflow = (await tasks.RunTask(request, metadata=keys["acme"], timeout=60)).workflow
            searches = {(c.team, c.service): c.calls for c in workflow.external_calls}
            assert searches.get(("research", "tavily"), 0) >= 1, list(workflow.external_calls)
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            report = await admin.GetUsage(
                admin_pb2.GetUsageRequest(tenant_id="acme", group_by=admin_pb2.USAGE_GROUPING_TEAM),
                metadata=keys["acme"],
                timeout=10,
            )
    research = next(r for r in report.rows if r.key == "research")
    billed = {c.service: (c.calls, c.cost_usd) for c in research.tool_calls}
    assert billed["tavily"] == (
        searches[("research", "tavily")],
        pytest.approx(0.01 * searches[("research", "tavily")]),
    )
