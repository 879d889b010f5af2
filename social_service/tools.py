"""The social team's tools: argument schemas, the functions behind them, and the registry that wires them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from common.agents.scope import current_workflow_id, find_artifact
from common.metrics import POSTS_SCHEDULED
from common.tools.registry import ToolRegistry, ToolSpec
from social_service.platforms import RULES, Platform, fit_post
from social_service.publishers import Publisher
from social_service.schedule import propose_posting_times
from social_service.scheduled_posts import NewPost, ScheduledPost, ScheduledPosts
from social_service.team import TEAM

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


def _new_post(workflow_id: str, item: PostToSchedule, now: datetime) -> NewPost:
    """A drafted ``social_post`` artifact in scope, to publish at ``item.at`` (now at the earliest)."""
    artifact = find_artifact(item.artifact_id)
    platform = artifact.get("metadata", {}).get("platform", "")
    if artifact["kind"] != "social_post" or platform not in {p.value for p in Platform}:
        raise ValueError(f"artifact {item.artifact_id!r} is not a drafted social post")
    if item.at.tzinfo is None:
        raise ValueError(f"time {item.at.isoformat()} has no UTC offset")
    return NewPost(workflow_id, item.artifact_id, platform, artifact["content"], max(item.at, now))


def _scheduled(post: ScheduledPost) -> dict[str, Any]:
    return {
        "post_id": post.id,
        "artifact_id": post.artifact_id,
        "platform": post.platform,
        "at": post.scheduled_at.isoformat(),
        "status": post.status,
    }


def _scheduler(store: ScheduledPosts, dry_run: bool) -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    """``schedule_posts``: stores drafted posts of the running worker's workflow (a post already scheduled for
    the workflow keeps its row)."""

    async def schedule_posts(posts: list[PostToSchedule | dict[str, Any]]) -> list[dict[str, Any]]:
        workflow_id = current_workflow_id()
        if not workflow_id:
            raise ValueError("posts are scheduled for a workflow, and this brief has no workflow_id")
        now = datetime.now(UTC)
        new = [_new_post(workflow_id, PostToSchedule.model_validate(p), now) for p in posts]
        return [_scheduled(p) for p in await store.schedule(new, dry_run)]

    return schedule_posts


async def _not_for_agents(text: str) -> None:
    raise RuntimeError("due posts are published by the publisher loop, not by agents")


def _scheduling_spec(posts: ScheduledPosts | None, dry_run: bool) -> ToolSpec:
    mode = "dry-run: due posts go to the outbox" if dry_run else "live: due posts are published"
    return ToolSpec(
        name="schedule_posts",
        description="Schedule drafted social_post artifacts (by artifact id) for publication at the given "
        "times; returns the scheduled post ids. A post already scheduled for this workflow is kept as is.",
        args_schema=SchedulePostsArgs,
        function=_scheduler(posts, dry_run) if posts is not None else _not_for_agents,
        configured=posts is not None,
        status=f"stores scheduled posts in the records database (DATABASE_URL or DATA_DIR); {mode}"
        if posts is not None
        else "no records store",
    )


def _publisher_spec(platform: Platform, publisher: Publisher, dry_run: bool) -> ToolSpec:
    return ToolSpec(
        name=f"publish_{platform.value}",
        description=f"Publishes due scheduled posts to {RULES[platform].display_name} "
        "(run by the publisher loop, never bound to an agent).",
        args_schema=PublishArgs,
        function=_not_for_agents,
        service=publisher.api.name,
        configured=publisher.configured,
        status=publisher.status(dry_run),
    )


def social_registry(
    posts: ScheduledPosts | None = None,
    publishers: Mapping[Platform, Publisher] | None = None,
    dry_run: bool = True,
) -> ToolRegistry:
    """The team's tools: drafting, posting times, scheduling (needs the records store), and the publishers'
    status (listed by ``ListTools``; the publisher loop uses them, agents never do)."""
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
        _scheduling_spec(posts, dry_run),
    )
    for platform, publisher in (publishers or {}).items():
        registry.add(_publisher_spec(platform, publisher, dry_run))
    return registry
