"""The social team's tools: argument schemas, the functions behind them, and the registry that wires them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from common.agents.profile import (
    Profile,
    brand_of,
    brand_warning,
    enabled_platforms,
    missing_disclosures,
    platform_enabled,
    posting_windows,
    remove_banned_phrases,
    time_zone,
)
from common.agents.scope import current_scope, current_workflow_id, find_artifact
from common.auth.principal import current_tenant
from common.metrics import POSTS_SCHEDULED
from common.tools.registry import ToolRegistry, ToolSpec
from social_service.platforms import RULES, DraftedPost, Platform, fit_post, post_length, shorten
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
    timezone: str = Field(
        "",
        max_length=64,
        description="IANA time zone of the audience, only when the task names one; empty: the tenant's time zone",
    )


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


def check_enabled(profile: Profile, platforms: list[Platform]) -> None:
    """Refuse platforms the tenant does not publish on.

    Raises:
        ValueError: Naming the platforms refused and the enabled ones (the model gets this message).
    """
    refused = [p for p in platforms if not platform_enabled(profile, p.value)]
    if refused:
        names = ", ".join(RULES[p].display_name for p in refused)
        enabled = ", ".join(enabled_platforms(profile))
        raise ValueError(f"the tenant does not publish on {names}; its platforms: {enabled}")


def _trailing_removed(text: str, disclosures: tuple[str, ...]) -> str:
    """The text without the disclosures it ends with (they are put back, protected, after fitting)."""
    text = text.rstrip()
    while match := next((d for d in disclosures if text.casefold().endswith(d.casefold())), None):
        text = text[: len(text) - len(match)].rstrip()
    return text


def _fit_with_suffix(platform: Platform, body: str, suffix: str, hashtags: list[str]) -> DraftedPost:
    """``fit_post`` with a protected last paragraph: the body is cut, never the suffix."""
    if not suffix:
        return fit_post(platform, body, hashtags)
    whole = fit_post(platform, f"{body}\n\n{suffix}", hashtags)
    if not whole.truncated:
        return whole
    budget = RULES[platform].limit - post_length(f"\n\n{suffix}", platform)
    short = shorten(body, platform, budget) if budget > 1 else ""
    fitted = fit_post(platform, f"{short}\n\n{suffix}".strip(), hashtags)
    return DraftedPost(fitted.platform, fitted.text, fitted.length, fitted.limit, fitted.hashtags, True)


def brand_post(platform: Platform, text: str, hashtags: list[str], profile: Profile) -> dict[str, Any]:
    """A post drafted for a tenant: banned phrases removed (``brand_warnings`` says which), the default hashtags
    first, the required disclosures as a last paragraph that fitting never cuts, fitted to the platform's limit.

    Raises:
        ValueError: The tenant does not publish on the platform, or nothing is left once banned phrases are removed.
    """
    check_enabled(profile, [platform])
    brand = brand_of(profile)
    body, removed = remove_banned_phrases(text, brand.banned_phrases)
    tags = [
        *brand.default_hashtags,
        *(t for t in hashtags if not remove_banned_phrases(t, brand.banned_phrases)[1]),
    ]
    body = _trailing_removed(body, brand.required_disclosures)
    if not any(char.isalnum() for char in body):
        raise ValueError("the post is empty once the tenant's banned phrases are removed")
    suffix = "\n".join(missing_disclosures(body, brand.required_disclosures))
    result = _fit_with_suffix(platform, body, suffix, tags).to_dict()
    result["brand_warnings"] = [brand_warning(phrase) for phrase in removed]
    if missing_disclosures(result["text"], brand.required_disclosures):
        result["brand_warnings"].append("the required disclosures do not fit the platform's limit")
    return result


async def _draft(platform: PlatformName, text: str, hashtags: list[str] | None = None) -> dict[str, Any]:
    return brand_post(Platform(platform), text, hashtags or [], current_scope().profile)


async def _propose(
    platforms: list[PlatformName], posts_per_platform: int = 1, timezone: str = ""
) -> list[dict[str, Any]]:
    """Posting times in the task's time zone, else the tenant's (UTC without one), inside the tenant's windows."""
    profile = current_scope().profile
    targets = [Platform(p) for p in platforms]
    check_enabled(profile, targets)
    zone = timezone.strip() or time_zone(profile) or "UTC"
    slots = propose_posting_times(
        targets, datetime.now(UTC), posts_per_platform, zone, posting_windows(profile)
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
    held = current_scope().review_required  # held until a reviewer approves its exact text
    return NewPost(workflow_id, item.artifact_id, platform, artifact["content"], max(item.at, now), held)


def _scheduled(post: ScheduledPost) -> dict[str, Any]:
    return {
        "post_id": post.id,
        "artifact_id": post.artifact_id,
        "platform": post.platform,
        "at": post.scheduled_at.isoformat(),
        "status": post.status,
    }


def _scheduler(store: ScheduledPosts, dry_run: bool) -> Callable[..., Awaitable[list[dict[str, Any]]]]:
    """``schedule_posts``: stores drafted posts of the running worker's workflow for the caller's tenant (a post
    already scheduled for the workflow keeps its row)."""

    async def schedule_posts(posts: list[PostToSchedule | dict[str, Any]]) -> list[dict[str, Any]]:
        workflow_id = current_workflow_id()
        if not workflow_id:
            raise ValueError("posts are scheduled for a workflow, and this brief has no workflow_id")
        try:
            tenant = current_tenant()  # the caller's, never a model's choice
        except LookupError:
            raise ValueError(
                "posts are scheduled for the caller's tenant, and no caller is identified"
            ) from None
        now = datetime.now(UTC)
        new = [_new_post(workflow_id, PostToSchedule.model_validate(p), now) for p in posts]
        return [_scheduled(p) for p in await store.schedule(tenant, new, dry_run)]

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
            "LinkedIn: 3000), applying the tenant's brand (banned phrases removed, default hashtags and required "
            "disclosures added); returns the final text, its length and any brand warnings.",
            args_schema=DraftPostArgs,
            function=_draft,
        ),
        ToolSpec(
            name="propose_posting_times",
            description="Propose the next best-practice posting times per platform, in the audience's time zone "
            "(the tenant's unless given) and inside the tenant's posting windows.",
            args_schema=ScheduleArgs,
            function=_propose,
        ),
        _scheduling_spec(posts, dry_run),
    )
    for platform, publisher in (publishers or {}).items():
        registry.add(_publisher_spec(platform, publisher, dry_run))
    return registry
