"""The command-line client's rendering and exit codes."""

from __future__ import annotations

import pytest
from marketing.supervisor.v1 import supervisor_pb2 as S
from marketing.team.v1 import team_pb2

from supervisor_service.cli import exit_code, render_event, render_tools, render_workflow, save_artifacts


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (S.WORKFLOW_STATUS_COMPLETED, 0),
        (S.WORKFLOW_STATUS_DEGRADED, 0),
        (S.WORKFLOW_STATUS_PARTIAL, 3),
        (S.WORKFLOW_STATUS_FAILED, 4),
        (S.WORKFLOW_STATUS_CANCELLED, 4),
        (S.WORKFLOW_STATUS_RUNNING, 4),
        (S.WORKFLOW_STATUS_AWAITING_REVIEW, 5),
    ],
)
def test_exit_codes(status: int, code: int) -> None:
    assert exit_code(S.Workflow(status=status)) == code


def test_the_workflow_is_rendered_with_warnings_usage_and_artifacts() -> None:
    workflow = S.Workflow(
        id="wf",
        status=S.WORKFLOW_STATUS_DEGRADED,
        warnings=["content/writer failed: no provider"],
        usage=team_pb2.Usage(model_calls=3, input_tokens=10, output_tokens=5, cost_usd=0.25),
        artifacts=[
            team_pb2.Artifact(
                id="research-1", team="research", agent="analyst", title="Brief", content="a\nb"
            )
        ],
    )
    text = render_workflow(workflow, max_lines=1)
    assert "workflow wf: DEGRADED" in text
    assert "warning: content/writer failed: no provider" in text
    assert "3 model calls, 10 input + 5 output tokens, $0.2500" in text
    assert "--- research-1 [research/analyst]" in text and "(1 more lines)" in text


def test_events_are_one_line_each() -> None:
    event = S.StreamTaskResponse(team_started=S.TeamStarted(team="social"))
    assert render_event(event) == "[social] started"
    assert render_event(S.StreamTaskResponse(done=S.Workflow())) is None
    withdrawn = team_pb2.TextWithdrawn(
        team="content", agent="writer", reason="IncompleteAnswerError: dropped", chars=9
    )
    assert render_event(S.StreamTaskResponse(text_withdrawn=withdrawn)) == (
        "[content] writer: a model call failed, its text withdrawn (IncompleteAnswerError: dropped)"
    )


def test_binary_artifacts_are_saved_and_described(tmp_path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 10
    artifacts = [
        team_pb2.Artifact(
            id="research-3", kind=team_pb2.ARTIFACT_KIND_CHART, mime_type="image/png", data=png
        ),
        team_pb2.Artifact(id="research-1", content="text only"),
    ]
    saved = save_artifacts(artifacts, tmp_path / "out")
    assert saved == {"research-3": tmp_path / "out" / "research-3.png"}
    assert saved["research-3"].read_bytes() == png
    workflow = S.Workflow(id="wf", status=S.WORKFLOW_STATUS_COMPLETED, artifacts=artifacts)
    text = render_workflow(workflow, saved=saved)
    assert f"[image/png, {len(png)} bytes, saved to {saved['research-3']}]" in text
    assert "not saved" in render_workflow(workflow)


def test_tools_are_listed_with_what_is_off_and_teams_that_did_not_answer() -> None:
    response = S.ListToolsResponse(
        tools=[
            team_pb2.Tool(name="search_knowledge_base", team="research", configured=True, status="local"),
            team_pb2.Tool(
                name="web_search",
                team="research",
                service="tavily",
                status="set TAVILY_API_KEY",
                agents=["searcher"],
            ),
        ],
        unavailable_teams=[S.TeamUnavailable(team="social", code="UNAVAILABLE", message="down")],
    )
    text = render_tools(response)
    assert "OFF research/web_search (searcher): set TAVILY_API_KEY" in text
    assert "on  research/search_knowledge_base (-): local" in text
    assert "social: did not answer (UNAVAILABLE: down)" in text
    assert text.endswith("tools off: web_search")


def test_a_review_required_event_names_the_review() -> None:
    event = S.StreamTaskResponse(review_required=S.ReviewRequired(review_id="r-1", team="social", items=2))
    assert render_event(event) == "[social] waits for review r-1 of 2 item(s)"
