"""A fourth team added through the registry alone (the README's "Add a team"): a package and one TeamSpec."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2, team_pb2_grpc

from common.launcher import ServiceLauncher
from common.teams import TEAMS, TeamSpec
from supervisor_service.graph import router_instructions, team_keyword_router
from tests.conftest import in_process_stack, start_teams, test_settings

EMAIL = TeamSpec(
    "email",
    "tests.fakes.email_service",
    50055,
    9105,
    description="email sequences (onboarding, nurture, drip campaigns) for a product's subscribers",
    artifact_kinds=("article",),
    keywords=("drip*", "onboarding email*", "email sequence*", "nurture*"),
)
REGISTRY = TEAMS.with_team(EMAIL)
TASK = "Write a blog article about our vector database, then a drip email sequence for new trial users"


def test_the_registry_entry_reaches_routing_prompt_and_launcher(tmp_path: Path) -> None:
    assert "email" in router_instructions(REGISTRY)
    assert "-> email" in router_instructions(REGISTRY)
    assert team_keyword_router(REGISTRY).needed(TASK) == ["content", "email"]
    env = ServiceLauncher(log_dir=tmp_path, registry=REGISTRY, ports={"email": 50155}).environment()
    assert env["EMAIL_ADDR"] == "127.0.0.1:50155" and env["EMAIL_PORT"] == "50155"


async def test_the_supervisor_routes_a_task_to_a_fourth_team_end_to_end() -> None:
    async with in_process_stack(test_settings(), REGISTRY) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        workflow = (await stub.RunTask(supervisor_pb2.RunTaskRequest(task=TASK), timeout=60)).workflow
        assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, workflow.warnings
        assert [s.next for s in workflow.routing_steps] == ["content", "email", "FINISH"]
        runs = {run.team: run for run in workflow.team_runs}
        assert runs["email"].status == supervisor_pb2.TEAM_RUN_STATUS_SUCCEEDED
        email = [a for a in workflow.artifacts if a.team == "email"]
        article = next(a for a in workflow.artifacts if a.team == "content" and a.agent == "writer")
        assert len(email) == 1 and email[0].metadata["emails"] == "3"
        assert f"Read our guide: {article.title}." in email[0].content, (
            "the upstream article reached the new team"
        )

        tools = await stub.ListTools(supervisor_pb2.ListToolsRequest(team="email"), timeout=10)
        assert not tools.unavailable_teams

        cancelled = await stub.CancelWorkflow(
            supervisor_pb2.CancelWorkflowRequest(workflow_id=workflow.id), timeout=10
        )
        assert cancelled.workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, (
            "finished: nothing to cancel"
        )


async def test_the_new_team_answers_the_uniform_contract() -> None:
    servers = await start_teams(test_settings(), REGISTRY.only(["email"]))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{servers['email'].port}") as channel:
            stub = team_pb2_grpc.TeamServiceStub(channel)
            answer = await stub.CancelWorkflow(team_pb2.CancelWorkflowRequest(workflow_id="wf-1"), timeout=5)
            assert answer.team == "email" and not answer.cancelled_effects
            result = (
                await stub.RunBrief(
                    team_pb2.RunBriefRequest(
                        brief=team_pb2.Brief(workflow_id="wf-1", task="Onboarding emails")
                    ),
                    timeout=20,
                )
            ).result
            assert result.team == "email" and [a.title for a in result.artifacts] == ["Email sequence"]
    finally:
        for server in servers.values():
            await server.stop(0)


def test_the_readme_walks_through_it_touching_at_most_four_files_outside_the_package() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Add a team", 1)[1].split("\n## ", 1)[0]
    outside = section.split("Touch at most four files outside it", 1)[1]
    steps = re.findall(r"^   \d\. (.+)$", outside, re.MULTILINE)
    assert 1 <= len(steps) <= 4, steps
    for step in steps:
        for path in re.findall(r"`([\w./]+\.(?:py|proto))`", step):
            if "<" not in path:
                assert (Path(__file__).resolve().parents[2] / path).exists(), path
    assert "common/teams.py" in steps[0] and "make deploy-files" in steps[1]
