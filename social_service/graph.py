"""The social team: a team lead routing between a post drafter and a scheduler."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field

from common.agents.brief import ParsedBrief, brief_from_messages
from common.agents.team_graph import TeamDefinition
from common.agents.worker import ArtifactDraft, Worker, WorkerOutput, current_workflow_id, find_artifact
from common.llm.offline import TemplateBehaviour, tool_results
from common.metrics import POSTS_SCHEDULED
from common.text import clip, extract_keywords, topic_terms
from common.tools.registry import ToolRegistry, ToolSpec
from social_service.platforms import RULES, Platform, fit_post, platforms_mentioned
from social_service.publishers import Publisher
from social_service.schedule import propose_posting_times
from social_service.scheduled_posts import NewPost, ScheduledPosts

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


class PostToSchedule(BaseModel):
    """One drafted post and when to publish it."""

    artifact_id: str = Field(
        min_length=1, max_length=128, description="Id of a social_post artifact in the brief"
    )
    at: datetime = Field(description="When to publish, ISO 8601 with a UTC offset (a past time means now)")


class SchedulePostsArgs(BaseModel):
    """Arguments of ``schedule_posts``."""

    posts: list[PostToSchedule] = Field(min_length=1, max_length=20, description="Posts and their times")


class PublishArgs(BaseModel):
    """Arguments of the publishers (run by the publisher loop, never by an agent)."""

    text: str = Field(min_length=1, max_length=10_000)


async def _draft(platform: PlatformName, text: str, hashtags: list[str] | None = None) -> dict[str, Any]:
    return fit_post(Platform(platform), text, hashtags or ()).to_dict()


async def _propose(
    platforms: list[PlatformName], posts_per_platform: int = 1, timezone: str = "UTC"
) -> list[dict[str, Any]]:
    slots = propose_posting_times(
        [Platform(p) for p in platforms], datetime.now(UTC), posts_per_platform, timezone
    )
    for slot in slots:
        POSTS_SCHEDULED.labels(platform=slot.platform.value).inc()
    return [slot.to_dict() for slot in slots]


def _scheduler(store: ScheduledPosts, dry_run: bool) -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    async def schedule_posts(posts: list[PostToSchedule | dict[str, Any]]) -> list[dict[str, Any]]:
        workflow_id = current_workflow_id()
        if not workflow_id:
            raise ValueError("posts are scheduled for a workflow, and this brief has no workflow_id")
        now = datetime.now(UTC)
        new = []
        for item in (PostToSchedule.model_validate(p) for p in posts):
            artifact = find_artifact(item.artifact_id)
            platform = artifact.get("metadata", {}).get("platform", "")
            if artifact["kind"] != "social_post" or platform not in {p.value for p in Platform}:
                raise ValueError(f"artifact {item.artifact_id!r} is not a drafted social post")
            if item.at.tzinfo is None:
                raise ValueError(f"time {item.at.isoformat()} has no UTC offset")
            new.append(
                NewPost(workflow_id, item.artifact_id, platform, artifact["content"], max(item.at, now))
            )
        stored = await store.schedule(new, dry_run)
        return [
            {
                "post_id": p.id,
                "artifact_id": p.artifact_id,
                "platform": p.platform,
                "at": p.scheduled_at.isoformat(),
                "status": p.status,
            }
            for p in stored
        ]

    return schedule_posts


async def _not_for_agents(text: str) -> None:
    raise RuntimeError("due posts are published by the publisher loop, not by agents")


def social_registry(
    posts: ScheduledPosts | None = None,
    publishers: Mapping[Platform, Publisher] | None = None,
    dry_run: bool = True,
) -> ToolRegistry:
    """The team's tools: drafting, posting times, scheduling (needs the records store), and the publishers'
    status (listed by ``ListTools``; the publisher loop uses them, agents never do)."""
    mode = "dry-run: due posts go to the outbox" if dry_run else "live: due posts are published"
    registry = ToolRegistry(TEAM).add(
        ToolSpec(
            name="draft_post",
            description="Fit a post body and hashtags into a platform's limits (X: 280 weighted characters, "
            "LinkedIn: 3000); returns the final text and its length.",
            args_schema=DraftPostArgs,
            function=_draft,
        ),
        ToolSpec(
            name="propose_posting_times",
            description="Propose the next best-practice posting times per platform, in the audience's time zone.",
            args_schema=ScheduleArgs,
            function=_propose,
        ),
        ToolSpec(
            name="schedule_posts",
            description="Schedule drafted social_post artifacts (by artifact id) for publication at the given "
            "times; returns the scheduled post ids. A post already scheduled for this workflow is kept as is.",
            args_schema=SchedulePostsArgs,
            function=_scheduler(posts, dry_run) if posts is not None else _not_for_agents,
            configured=posts is not None,
            status=f"stores scheduled posts in the records database (DATABASE_URL or DATA_DIR); {mode}"
            if posts is not None
            else "no records store",
        ),
    )
    for platform, publisher in (publishers or {}).items():
        registry.add(
            ToolSpec(
                name=f"publish_{platform.value}",
                description=f"Publishes due scheduled posts to {RULES[platform].display_name} "
                "(run by the publisher loop, never bound to an agent).",
                args_schema=PublishArgs,
                function=_not_for_agents,
                service=publisher.api.name,
                configured=publisher.configured,
                status=publisher.status(dry_run),
            )
        )
    return registry


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
    drafted = brief.of_kind("social_post")
    platforms = [p for p in RULES.values() if any(p.display_name in a["title"] for a in drafted)]
    names = [p.platform.value for p in platforms] or [p.value for p in target_platforms(brief)]
    calls = [("propose_posting_times", {"platforms": names, "posts_per_platform": 1, "timezone": "UTC"})]
    slots = [s for name, v in tool_results(messages) if name == "propose_posting_times" for s in v or []]
    if "schedule_posts" in tools and slots and drafted:
        first_slot = {}
        for slot in slots:
            first_slot.setdefault(slot["platform"], slot["at"])
        posts = [
            {"artifact_id": a["id"], "at": first_slot[rules.platform.value]}
            for a in drafted
            for rules in RULES.values()
            if rules.display_name in a["title"] and rules.platform.value in first_slot
        ]
        if posts:
            calls.append(("schedule_posts", {"posts": posts}))
    return calls


def _scheduled(results: Sequence[tuple[str, Any]]) -> list[dict[str, Any]]:
    return [
        p for name, value in results if name == "schedule_posts" and isinstance(value, list) for p in value
    ]


def _render_schedule(messages: Sequence[BaseMessage]) -> str:
    slots = [s for name, v in tool_results(messages) if name == "propose_posting_times" for s in v or []]
    text = "Proposed schedule: " + "; ".join(f"{s['platform']} at {s['at']}" for s in slots)
    if scheduled := _scheduled(tool_results(messages)):
        text += f". Scheduled {len(scheduled)} post(s) for publication."
    return text


def _schedule_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    slots = [s for value in output.results_of("propose_posting_times") for s in value]
    if not slots:
        return []
    scheduled = [p for value in output.results_of("schedule_posts") for p in value]
    post_of = {p["platform"]: p for p in scheduled}
    rows = []
    for s in slots:
        post = post_of.get(s["platform"])
        where = f"{post['post_id']} ({post['status']})" if post else "not scheduled"
        rows.append(f"| {s['platform']} | {s['at']} | {s['rationale']} | {where} |")
    table = "\n".join(["| platform | time | why | scheduled post |", "| --- | --- | --- | --- |", *rows])
    metadata = {"slots": ";".join(f"{s['platform']}@{s['at']}" for s in slots)}
    if scheduled:
        metadata["post_ids"] = " ".join(p["post_id"] for p in scheduled)
        metadata["scheduled"] = ";".join(f"{p['platform']}@{p['at']}={p['post_id']}" for p in scheduled)
    return [
        ArtifactDraft(kind="posting_schedule", title="Posting schedule", content=table, metadata=metadata)
    ]


def social_team(registry: ToolRegistry | None = None) -> TeamDefinition:
    """The social team; its tools come from ``registry`` (by default one without a records store)."""
    registry = registry or social_registry()
    drafter = Worker(
        name="post_drafter",
        description="drafts one post per platform, fitted to the platform's limits",
        instructions=(
            "You are the social team's post drafter. For each platform the task names (X and LinkedIn when it "
            "names none), call draft_post once with a post body written for that platform from the article and "
            "research in the brief, plus two to five hashtags. Then answer with one line listing the drafts."
        ),
        tools=registry.tools_for("post_drafter", "draft_post"),
        offline=TemplateBehaviour(_render_posts, _plan_posts),
        build_artifacts=_post_artifacts,
    )
    scheduler = Worker(
        name="scheduler",
        description="proposes posting times for the drafted posts and schedules them",
        instructions=(
            "You are the social team's scheduler. Call propose_posting_times for the platforms that have "
            "drafted posts (the audience's time zone if the task names one, else UTC). Then call schedule_posts "
            "once with every drafted social_post artifact id and the proposed time for its platform. Answer "
            "with one line summarising the schedule."
        ),
        tools=registry.tools_for("scheduler", "propose_posting_times", "schedule_posts"),
        offline=TemplateBehaviour(_render_schedule, _plan_schedule),
        build_artifacts=_schedule_artifacts,
    )
    return TeamDefinition(
        name=TEAM,
        workers=(drafter, scheduler),
        finish_when="once the posts are drafted and scheduled",
        tools=registry,
    )
