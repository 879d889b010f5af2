"""The tenant's profile shapes the teams' work: brand rules on posts and articles, enabled platforms, time zone and
posting windows (the offline planners, and the tools every model uses)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from common.agents.offline_work import OfflineWork
from common.agents.profile import PostingHours
from common.agents.scope import WorkScope, list_metadata, work_scope
from common.agents.state import ArtifactData
from common.agents.worker import WorkerOutput
from content_service.offline import render_article
from social_service.artifacts import post_artifacts
from social_service.offline import plan_posts, plan_schedule, render_posts, render_schedule, task_time_zone
from social_service.platforms import Platform, post_length
from social_service.schedule import propose_posting_times
from social_service.tools import brand_post, social_registry

BRAND = {
    "voice": "plain, warm, no hype",
    "audience": "founders of small SaaS companies",
    "banned_phrases": ["guaranteed results"],
    "required_disclosures": ["#ad"],
    "default_hashtags": ["Acme"],
}
PROFILE: dict[str, Any] = {"brand": BRAND}
ARTICLE = ArtifactData(
    id="content-1", team="content", agent="writer", kind="article", title="Guaranteed results with vector search",
    content="# Guaranteed results with vector search", mime_type="text/markdown", metadata={},
)  # fmt: skip
RESEARCH = ArtifactData(
    id="research-1", team="research", agent="analyst", kind="research_brief", title="Research brief",
    content="# Research brief", mime_type="text/markdown",
    metadata={"findings": list_metadata(["Vector databases grew 40% in 2025 [1]"])},
)  # fmt: skip
# 2025-03-05 is a Wednesday.
WEDNESDAY_1030_UTC = datetime(2025, 3, 5, 10, 30, tzinfo=UTC)


def work(
    task: str,
    profile: dict[str, Any],
    artifacts: tuple[ArtifactData, ...] = (),
    results: tuple[tuple[str, object], ...] = (),
    tools: frozenset[str] = frozenset(),
) -> OfflineWork:
    return OfflineWork(task, "", "wf-1", artifacts, results, tools, profile)


# --- brand -------------------------------------------------------------------------------------------------


def test_the_offline_drafter_puts_the_default_hashtags_first_and_the_disclosures_last() -> None:
    calls = plan_posts(work("Announce vector search on LinkedIn", PROFILE, (ARTICLE, RESEARCH)))
    [(tool, args)] = calls
    assert tool == "draft_post" and args["platform"] == "linkedin"
    assert args["hashtags"][0] == "Acme" and args["text"].endswith("\n\n#ad")


def test_draft_post_removes_banned_phrases_says_so_and_keeps_hashtags_and_disclosures() -> None:
    post = brand_post(Platform.LINKEDIN, "Guaranteed Results with vector search.", ["search"], PROFILE)
    assert "guaranteed results" not in post["text"].casefold()
    assert post["brand_warnings"] == ['removed banned phrase "guaranteed results"']
    assert post["text"] == "with vector search.\n\n#ad\n\n#Acme #search"
    assert post["hashtags"] == ["#Acme", "#search"]


def test_on_x_the_disclosures_survive_fitting_and_the_body_is_cut_instead() -> None:
    profile = {"brand": {**BRAND, "required_disclosures": ["#ad", "Paid partnership with Acme."]}}
    long_body = "Vector search explained in plain words. " * 20 + "#ad"
    post = brand_post(Platform.X, long_body, ["search"], profile)
    assert "…\n\n#ad\nPaid partnership with Acme.\n\n" in post["text"]
    assert post["truncated"] is True and post["brand_warnings"] == []
    assert post_length(post["text"], Platform.X) <= 280 == post["limit"]


def test_a_post_made_only_of_banned_phrases_is_refused() -> None:
    with pytest.raises(ValueError, match="empty once the tenant's banned phrases are removed"):
        brand_post(Platform.X, "Guaranteed results!", [], PROFILE)


async def test_the_draft_post_tool_applies_the_brand_of_the_running_workers_tenant() -> None:
    [tool] = social_registry().tools_for("post_drafter", "draft_post")
    with work_scope(WorkScope(task="t", profile=PROFILE)):
        post = await tool.ainvoke({"platform": "x", "text": "Guaranteed results, now.", "hashtags": []})
    assert post["text"] == "now.\n\n#ad\n\n#Acme" and post["brand_warnings"]
    with work_scope(WorkScope(task="t")):
        plain = await tool.ainvoke({"platform": "x", "text": "Guaranteed results, now.", "hashtags": []})
    assert plain["text"] == "Guaranteed results, now." and plain["brand_warnings"] == []


def test_the_posts_metadata_says_which_banned_phrases_were_removed() -> None:
    post = brand_post(Platform.LINKEDIN, "Guaranteed results with vector search.", [], PROFILE)
    [artifact] = post_artifacts(WorkerOutput("", (_result("draft_post", post),), "offline"))
    assert artifact.metadata["brand_warnings"] == 'removed banned phrase "guaranteed results"'


def _result(name: str, value: Any) -> Any:
    from common.agents.worker import ToolResult

    return ToolResult(name, {}, value)


def test_the_offline_writer_writes_for_the_audience_without_banned_phrases_and_ends_with_the_disclosures() -> (
    None
):
    article = render_article(work("Write about guaranteed results with vector search", PROFILE, (RESEARCH,)))
    assert "guaranteed results" not in article.casefold()
    assert "written for founders of small SaaS companies who want" in article
    assert article.endswith("\n\n#ad")
    plain = render_article(work("Write about vector search", {}, (RESEARCH,)))
    assert "written for busy marketing teams" in plain and not plain.endswith("#ad")


# --- enabled platforms -------------------------------------------------------------------------------------


def test_the_drafter_drafts_only_for_the_enabled_platforms_the_task_names() -> None:
    linkedin_only = {"enabled_platforms": ["PLATFORM_LINKEDIN"]}
    assert [a["platform"] for _, a in plan_posts(work("Promote the release", linkedin_only))] == ["linkedin"]
    named = work("Promote it on X and LinkedIn", linkedin_only)
    assert [a["platform"] for _, a in plan_posts(named)] == ["linkedin"]
    every = work("Promote it on X and LinkedIn", {"enabled_platforms": []})
    assert [a["platform"] for _, a in plan_posts(every)] == ["x", "linkedin"]


def test_a_task_naming_only_disabled_platforms_drafts_none_and_says_why() -> None:
    drafting = work("Tweet about the release", {"enabled_platforms": ["PLATFORM_LINKEDIN"]})
    assert plan_posts(drafting) == [] and plan_schedule(drafting) == []
    assert render_posts(drafting) == (
        "Drafted no post: the task names X (Twitter), which the tenant does not publish on "
        "(its platforms: LinkedIn)."
    )
    assert render_schedule(drafting).startswith("Nothing to schedule: the task names X (Twitter)")


async def test_the_tools_refuse_platforms_the_tenant_does_not_publish_on() -> None:
    draft, propose = social_registry().tools_for("social", "draft_post", "propose_posting_times")
    with work_scope(WorkScope(task="t", profile={"enabled_platforms": ["PLATFORM_LINKEDIN"]})):
        with pytest.raises(ValueError, match="does not publish on X"):
            await draft.ainvoke({"platform": "x", "text": "Hello"})
        with pytest.raises(ValueError, match="its platforms: linkedin"):
            await propose.ainvoke({"platforms": ["linkedin", "x"]})


# --- time zone and posting windows -------------------------------------------------------------------------


def test_slots_fall_inside_the_tenants_windows_at_best_practice_times_when_possible() -> None:
    windows = (
        PostingHours("x", frozenset({3, 4}), 13, 16),  # Wed, Thu afternoons: no best-practice time inside
        PostingHours("linkedin", frozenset(), 9, 11),  # every day 9-11: LinkedIn's 10:00 (Tue-Thu) is inside
    )
    slots = propose_posting_times([Platform.X, Platform.LINKEDIN], WEDNESDAY_1030_UTC, 3, "UTC", windows)
    x = [s.at for s in slots if s.platform is Platform.X]
    linkedin = [s.at for s in slots if s.platform is Platform.LINKEDIN]
    assert x == [datetime(2025, 3, 5, 13, tzinfo=UTC), datetime(2025, 3, 6, 13, tzinfo=UTC),
                 datetime(2025, 3, 12, 13, tzinfo=UTC)]  # fmt: skip
    assert [(d.day, d.time()) for d in linkedin] == [(6, time(10)), (7, time(9)), (8, time(9))]
    first_x = next(s for s in slots if s.platform is Platform.X)
    assert "first hour of the tenant's posting window (Wed, Thu 13:00-16:00)" in first_x.rationale
    thursday = next(s for s in slots if s.platform is Platform.LINKEDIN)
    assert "mid-week mid-morning peak, inside the tenant's posting window" in thursday.rationale


def test_windows_for_every_platform_apply_to_each_and_other_platforms_keep_best_practice() -> None:
    everywhere = (PostingHours("", frozenset({6, 7}), 10, 12),)
    slots = propose_posting_times([Platform.X, Platform.LINKEDIN], WEDNESDAY_1030_UTC, 1, "UTC", everywhere)
    assert [(s.platform, s.at.weekday(), s.at.hour) for s in slots] == [
        (Platform.X, 5, 10),
        (Platform.LINKEDIN, 5, 10),
    ]
    only_x = (PostingHours("x", frozenset(), 20, 22),)
    [linkedin, x] = propose_posting_times(
        [Platform.X, Platform.LINKEDIN], WEDNESDAY_1030_UTC, 1, "UTC", only_x
    )
    assert (linkedin.platform, linkedin.at) == (Platform.LINKEDIN, datetime(2025, 3, 5, 12, tzinfo=UTC))
    assert (x.platform, x.at) == (Platform.X, datetime(2025, 3, 5, 20, tzinfo=UTC))


def test_windows_are_local_hours_in_the_tenants_zone() -> None:
    windows = (PostingHours("", frozenset(), 8, 9),)
    [slot] = propose_posting_times([Platform.X], WEDNESDAY_1030_UTC, 1, "America/New_York", windows)
    assert slot.at.isoformat() == "2025-03-05T08:00:00-05:00"  # 05:30 in New York when the search starts


async def test_the_posting_times_tool_uses_the_tenants_zone_and_windows_unless_the_zone_is_given() -> None:
    [propose] = social_registry().tools_for("scheduler", "propose_posting_times")
    profile = {"time_zone": "Asia/Tokyo", "posting_windows": [{"start_hour": 7, "end_hour": 8}]}
    with work_scope(WorkScope(task="t", profile=profile)):
        [slot] = await propose.ainvoke({"platforms": ["x"]})
        [given] = await propose.ainvoke({"platforms": ["x"], "timezone": "Europe/Berlin"})
    at = datetime.fromisoformat(slot["at"])
    assert at.utcoffset() == ZoneInfo("Asia/Tokyo").utcoffset(at.replace(tzinfo=None)) and at.hour == 7
    assert "Asia/Tokyo" in slot["rationale"] and "tenant's posting window" in slot["rationale"]
    assert "Europe/Berlin" in given["rationale"] and datetime.fromisoformat(given["at"]).hour == 7


def test_the_offline_scheduler_asks_for_the_tasks_zone_else_the_tenants() -> None:
    tokyo = {"time_zone": "Asia/Tokyo"}
    [(_, args)] = plan_schedule(work("Schedule the LinkedIn post", tokyo))
    assert args["timezone"] == "Asia/Tokyo"
    [(_, args)] = plan_schedule(work("Schedule the LinkedIn post for America/New_York readers", tokyo))
    assert args["timezone"] == "America/New_York"
    [(_, args)] = plan_schedule(work("Schedule the LinkedIn post", {}))
    assert args["timezone"] == "UTC"
    assert task_time_zone("A/B test for Mars/Olympus and UTC") == "UTC"
