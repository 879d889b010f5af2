"""The social team under the offline model: plans read the artifacts in scope as data, never the prompt."""

from __future__ import annotations

from common.agents.offline_work import OfflineWork
from common.agents.scope import list_metadata
from common.agents.state import ArtifactData
from social_service.offline import key_point, plan_posts, plan_schedule, render_schedule

ARTICLE = ArtifactData(
    id="content-1", team="content", agent="writer", kind="article", title="Vector databases, explained",
    content="# Vector databases, explained", mime_type="text/markdown", metadata={},
)  # fmt: skip
RESEARCH = ArtifactData(
    id="research-2", team="research", agent="analyst", kind="research_brief", title="Research brief",
    content="# Research brief\n\n## Key findings\n- A bullet the plans must not parse [1]",
    mime_type="text/markdown",
    metadata={"findings": list_metadata(["Vector databases grew 40% in 2025 [1]", "Second finding [2]"])},
)  # fmt: skip


def post(artifact_id: str, platform: str, title: str = "A post") -> ArtifactData:
    return ArtifactData(
        id=artifact_id, team="social", agent="post_drafter", kind="social_post", title=title,
        content="Hello", mime_type="text/plain", metadata={"platform": platform},
    )  # fmt: skip


def work(
    task: str,
    artifacts: tuple[ArtifactData, ...] = (),
    results: tuple[tuple[str, object], ...] = (),
    tools: frozenset[str] = frozenset(),
) -> OfflineWork:
    return OfflineWork(task, "", "wf-1", artifacts, results, tools)


def test_posts_lead_with_the_articles_title_and_the_first_research_finding_without_its_marker() -> None:
    drafting = work("Announce it on X", (ARTICLE, RESEARCH))
    assert key_point(drafting) == "Vector databases grew 40% in 2025"
    [(tool, args)] = plan_posts(drafting)
    assert tool == "draft_post" and args["platform"] == "x"
    assert args["text"] == "New: Vector databases, explained. Vector databases grew 40% in 2025"


def test_without_findings_metadata_there_is_no_key_point_and_both_platforms_get_a_post() -> None:
    bare = ArtifactData(**{**RESEARCH, "metadata": {}})
    drafting = work("Promote the release", (bare,))
    assert key_point(drafting) == ""
    assert [args["platform"] for _, args in plan_posts(drafting)] == ["x", "linkedin"]


def test_the_scheduler_matches_drafts_to_platforms_by_metadata_not_by_title() -> None:
    drafts = (post("social-1", "linkedin", title="Post one"), post("social-2", "x", title="Post two"))
    [(tool, args)] = plan_schedule(
        work("Promote it on LinkedIn", drafts, tools=frozenset({"schedule_posts"}))
    )
    assert tool == "propose_posting_times" and args["platforms"] == ["x", "linkedin"]
    slots = [
        {"platform": "x", "at": "2030-01-01T09:00:00+00:00", "rationale": "r"},
        {"platform": "linkedin", "at": "2030-01-01T10:00:00+00:00", "rationale": "r"},
        {"platform": "linkedin", "at": "2030-01-02T10:00:00+00:00", "rationale": "r"},
    ]
    results = (("propose_posting_times", slots),)
    scheduling = work("Promote it", drafts, results, frozenset({"propose_posting_times", "schedule_posts"}))
    assert plan_schedule(scheduling)[1] == (
        "schedule_posts",
        {
            "posts": [
                {"artifact_id": "social-1", "at": "2030-01-01T10:00:00+00:00"},
                {"artifact_id": "social-2", "at": "2030-01-01T09:00:00+00:00"},
            ]
        },
    )
    without_the_tool = work("Promote it", drafts, results, frozenset({"propose_posting_times"}))
    assert [tool for tool, _ in plan_schedule(without_the_tool)] == ["propose_posting_times"]


def test_without_drafts_the_scheduler_proposes_times_for_the_tasks_platforms_and_ignores_failed_calls() -> (
    None
):
    failed = (("propose_posting_times", "error: ValueError: unknown time zone"),)
    [(_, args)] = plan_schedule(work("A LinkedIn post", (), failed, frozenset({"propose_posting_times"})))
    assert args["platforms"] == ["linkedin"]
    assert "Scheduled" not in render_schedule(work("A LinkedIn post", (), failed)), "an error is no slot"
