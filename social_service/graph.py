"""The social team: a team lead routing between a post drafter and a scheduler."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from common.agents.brief import ParsedBrief, brief_from_messages
from common.agents.team_graph import TeamDefinition
from common.agents.worker import ArtifactDraft, Worker, WorkerOutput
from common.llm.offline import TemplateBehaviour, tool_results
from common.metrics import POSTS_SCHEDULED
from common.text import clip, extract_keywords, topic_terms
from social_service.platforms import RULES, Platform, fit_post, platforms_mentioned
from social_service.schedule import propose_posting_times

TEAM = "social"
PlatformName = Literal["x", "linkedin"]


class DraftPostArgs(BaseModel):
    """Arguments of ``draft_post``."""

    platform: PlatformName = Field(description="Target platform")
    text: str = Field(min_length=1, max_length=10_000, description="Post body, without hashtags")
    hashtags: list[str] = Field(
        default_factory=list, max_length=30, description="Hashtags, with or without #"
    )


class ScheduleArgs(BaseModel):
    """Arguments of ``propose_posting_times``."""

    platforms: list[PlatformName] = Field(min_length=1, max_length=2, description="Platforms to schedule")
    posts_per_platform: int = Field(1, ge=1, le=10)
    timezone: str = Field("UTC", max_length=64, description="IANA time zone of the audience")


def social_tools() -> tuple[BaseTool, BaseTool]:
    """The team's tools."""

    async def draft(platform: PlatformName, text: str, hashtags: list[str] | None = None) -> dict[str, Any]:
        return fit_post(Platform(platform), text, hashtags or ()).to_dict()

    async def schedule(
        platforms: list[PlatformName], posts_per_platform: int = 1, timezone: str = "UTC"
    ) -> list[dict[str, Any]]:
        slots = propose_posting_times(
            [Platform(p) for p in platforms], datetime.now(UTC), posts_per_platform, timezone
        )
        for slot in slots:
            POSTS_SCHEDULED.labels(platform=slot.platform.value).inc()
        return [slot.to_dict() for slot in slots]

    return (
        StructuredTool.from_function(
            coroutine=draft,
            name="draft_post",
            description="Fit a post body and hashtags into a platform's limits (X: 280 weighted characters, "
            "LinkedIn: 3000); returns the final text and its length.",
            args_schema=DraftPostArgs,
        ),
        StructuredTool.from_function(
            coroutine=schedule,
            name="propose_posting_times",
            description="Propose the next best-practice posting times per platform, in the audience's time zone.",
            args_schema=ScheduleArgs,
        ),
    )


def target_platforms(brief: ParsedBrief) -> list[Platform]:
    """Platforms the task names, or all supported platforms when it names none."""
    return platforms_mentioned(brief.task) or list(RULES)


def _headline(brief: ParsedBrief) -> str:
    articles = brief.of_kind("article")
    if articles:
        return articles[-1]["title"]
    return clip(brief.task, 120)


def _key_point(brief: ParsedBrief) -> str:
    for artifact in brief.of_kind("research_brief"):
        bullet = re.search(r"^- (.+?)(?:\s*\[\d+\])?\s*$", artifact["content"], re.MULTILINE)
        if bullet:
            return bullet.group(1)
    return ""


# --- post drafter ------------------------------------------------------------------------------------------


def _plan_posts(messages: Sequence[BaseMessage], tools: set[str]) -> list[tuple[str, dict[str, Any]]]:
    brief = brief_from_messages(messages)
    headline = _headline(brief)
    point = _key_point(brief)
    topic = topic_terms(brief.task, 3)
    hashtags = ([" ".join(topic)] if len(topic) > 1 else []) + (topic or extract_keywords(brief.task, 3))
    calls = []
    for platform in target_platforms(brief):
        if platform is Platform.X:
            body = (
                f"New: {headline}. {point}"
                if point
                else f"New: {headline}. The plan, step by step, for your team."
            )
        else:
            body = "\n\n".join(
                part
                for part in (
                    f"{headline}",
                    point and f"One finding stood out: {point}",
                    "We put the full plan in a new article: the goal to set, the audience to pick, and the "
                    "steps to measure what works. What would you add?",
                )
                if part
            )
        calls.append(("draft_post", {"platform": platform.value, "text": body, "hashtags": hashtags}))
    return calls


def _render_posts(messages: Sequence[BaseMessage]) -> str:
    posts = [v for name, v in tool_results(messages) if name == "draft_post" and isinstance(v, dict)]
    return f"Drafted {len(posts)} post(s): " + ", ".join(
        f"{p['platform']} ({p['length']}/{p['limit']})" for p in posts
    )


def _post_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    return [
        ArtifactDraft(
            kind="social_post",
            title=f"{RULES[Platform(post['platform'])].display_name} post",
            content=post["text"],
            mime_type="text/plain",
            metadata={
                "platform": post["platform"],
                "length": str(post["length"]),
                "limit": str(post["limit"]),
                "hashtags": " ".join(post["hashtags"]),
                "truncated": str(post["truncated"]).lower(),
            },
        )
        for post in output.results_of("draft_post")
    ]


# --- scheduler ---------------------------------------------------------------------------------------------


def _plan_schedule(messages: Sequence[BaseMessage], tools: set[str]) -> list[tuple[str, dict[str, Any]]]:
    brief = brief_from_messages(messages)
    drafted = [a["title"] for a in brief.of_kind("social_post")]
    platforms = [p for p in RULES.values() if any(p.display_name in title for title in drafted)]
    names = [p.platform.value for p in platforms] or [p.value for p in target_platforms(brief)]
    return [("propose_posting_times", {"platforms": names, "posts_per_platform": 1, "timezone": "UTC"})]


def _render_schedule(messages: Sequence[BaseMessage]) -> str:
    slots = [s for name, v in tool_results(messages) if name == "propose_posting_times" for s in v or []]
    return "Proposed schedule: " + "; ".join(f"{s['platform']} at {s['at']}" for s in slots)


def _schedule_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    slots = [s for value in output.results_of("propose_posting_times") for s in value]
    if not slots:
        return []
    table = "\n".join(
        ["| platform | time | why |", "| --- | --- | --- |"]
        + [f"| {s['platform']} | {s['at']} | {s['rationale']} |" for s in slots]
    )
    return [
        ArtifactDraft(
            kind="posting_schedule",
            title="Posting schedule",
            content=table,
            metadata={"slots": ";".join(f"{s['platform']}@{s['at']}" for s in slots)},
        )
    ]


def social_team() -> TeamDefinition:
    """The social team."""
    draft_tool, schedule_tool = social_tools()
    drafter = Worker(
        name="post_drafter",
        description="drafts one post per platform, fitted to the platform's limits",
        instructions=(
            "You are the social team's post drafter. For each platform the task names (X and LinkedIn when it "
            "names none), call draft_post once with a post body written for that platform from the article and "
            "research in the brief, plus two to five hashtags. Then answer with one line listing the drafts."
        ),
        tools=(draft_tool,),
        offline=TemplateBehaviour(_render_posts, _plan_posts),
        build_artifacts=_post_artifacts,
    )
    scheduler = Worker(
        name="scheduler",
        description="proposes posting times for the drafted posts",
        instructions=(
            "You are the social team's scheduler. Call propose_posting_times for the platforms that have "
            "drafted posts (the audience's time zone if the task names one, else UTC), then answer with one "
            "line summarising the schedule."
        ),
        tools=(schedule_tool,),
        offline=TemplateBehaviour(_render_schedule, _plan_schedule),
        build_artifacts=_schedule_artifacts,
    )
    return TeamDefinition(
        name=TEAM,
        workers=(drafter, scheduler),
        finish_when="once the posts are drafted and scheduled",
    )
