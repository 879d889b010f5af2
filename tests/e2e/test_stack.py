"""All four services as separate processes, called with grpcurl and with generated stubs."""

from __future__ import annotations

import json

import grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc

from common.launcher import ServiceLauncher
from tests.e2e.conftest import grpcurl, grpcurl_json

EXPECTED_SERVICES = {
    "supervisor": {
        "marketing.supervisor.v1.SupervisorService",
        "marketing.admin.v1.AdminService",
        "marketing.supervisor.v1.ReviewService",
    },
    "research": {"marketing.team.v1.TeamService", "marketing.research.v1.ResearchService"},
    "content": {"marketing.team.v1.TeamService", "marketing.content.v1.ContentService"},
    "social": {"marketing.team.v1.TeamService", "marketing.social.v1.SocialService"},
}
STANDARD = {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}


def test_grpcurl_lists_every_service_with_health_and_reflection(stack: ServiceLauncher) -> None:
    for name, expected in EXPECTED_SERVICES.items():
        result = grpcurl("-plaintext", stack.processes[name].address, "list")
        assert result.returncode == 0, result.stderr
        assert set(result.stdout.split()) == expected | STANDARD
        health = grpcurl_json("-plaintext", stack.processes[name].address, "grpc.health.v1.Health/Check")
        assert health == {"status": "SERVING"}


def test_grpcurl_describes_the_run_task_request(stack: ServiceLauncher) -> None:
    result = grpcurl(
        "-plaintext",
        stack.processes["supervisor"].address,
        "describe",
        "marketing.supervisor.v1.RunTaskRequest",
    )
    assert result.returncode == 0, result.stderr
    assert "string task = 1;" in result.stdout


def test_grpcurl_run_task_returns_a_completed_campaign(stack: ServiceLauncher) -> None:
    task = "Launch campaign for our open-source vector database with a blog article and LinkedIn posts"
    answer = grpcurl_json(
        "-plaintext", "-max-time", "60", "-d", f'{{"task": "{task}"}}',
        stack.processes["supervisor"].address, "marketing.supervisor.v1.SupervisorService/RunTask",
    )  # fmt: skip
    workflow = answer["workflow"]
    assert workflow["status"] == "WORKFLOW_STATUS_COMPLETED"
    assert workflow["id"] and workflow["task"] == task
    assert [s["next"] for s in workflow["routing_steps"]] == ["research", "content", "social", "FINISH"]
    assert {a["team"] for a in workflow["artifacts"]} == {"research", "content", "social"}
    assert [s["team"] for s in workflow["routing_steps"]] == ["research", "content", "social", ""]


def test_grpcurl_research_only_task_touches_no_social_team(stack: ServiceLauncher) -> None:
    answer = grpcurl_json(
        "-plaintext", "-d", '{"task": "Research the AI agents tooling market and the main competitors"}',
        stack.processes["supervisor"].address, "marketing.supervisor.v1.SupervisorService/RunTask",
    )  # fmt: skip
    workflow = answer["workflow"]
    assert workflow["status"] == "WORKFLOW_STATUS_COMPLETED"
    assert [r["team"] for r in workflow["team_runs"]] == ["research"]
    assert all(a["team"] == "research" for a in workflow["artifacts"])


def test_grpcurl_shows_bad_request_details_and_unknown_methods(stack: ServiceLauncher) -> None:
    address = stack.processes["supervisor"].address
    result = grpcurl(
        "-plaintext", "-format-error", "-d", '{"task": "   "}', address,
        "marketing.supervisor.v1.SupervisorService/RunTask",
    )  # fmt: skip
    assert result.returncode != 0
    status = json.loads(result.stderr)
    assert status["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    (detail,) = status["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert [v["field"] for v in detail["field_violations"]] == ["task"]
    unknown = grpcurl("-plaintext", address, "marketing.supervisor.v1.SupervisorService/Nope")
    assert unknown.returncode != 0 and "Nope" in unknown.stderr
    missing = grpcurl("-plaintext", address, "marketing.billing.v1.BillingService/Charge")
    assert missing.returncode != 0 and "BillingService" in missing.stderr


def test_stream_task_over_separate_processes(stack: ServiceLauncher) -> None:
    with grpc.insecure_channel(stack.processes["supervisor"].address) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        request = supervisor_pb2.StreamTaskRequest(
            task="Write a blog article about retrieval-augmented generation"
        )
        events = list(stub.StreamTask(request, timeout=60))
    assert events[-1].HasField("done")
    workflow = events[-1].done
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
    assert [r.team for r in workflow.team_runs] == ["content"]
    assert any(e.HasField("agent_step") and e.agent_step.agent == "writer" for e in events)
