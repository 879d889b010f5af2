"""The social team: a team lead routing between a post drafter and a scheduler."""

from __future__ import annotations

from collections.abc import Sequence

from common.agents.team_graph import CancelEffects, CancelledEffect, TeamDefinition
from common.agents.worker import Worker
from common.tools.registry import ToolRegistry
from social_service.artifacts import post_artifacts, schedule_artifacts
from social_service.offline import POST_DRAFTER_OFFLINE, SCHEDULER_OFFLINE
from social_service.scheduled_posts import ScheduledPosts

TEAM = "social"
SCHEDULED_POST = "scheduled_post"
"""The kind of side effect the team undoes when its workflow is cancelled."""

POST_DRAFTER = "post_drafter"
POST_DRAFTER_DESCRIPTION = "drafts one post per platform, fitted to the platform's limits"
POST_DRAFTER_INSTRUCTIONS = (
    "You are the social team's post drafter. For each platform the task names (X and LinkedIn when it names none), "
    "call draft_post once with a post body written for that platform from the article and research in the brief, "
    "plus two to five hashtags. Then answer with one line listing the drafts."
)

SCHEDULER = "scheduler"
SCHEDULER_DESCRIPTION = "proposes posting times for the drafted posts and schedules them"
SCHEDULER_INSTRUCTIONS = (
    "You are the social team's scheduler. Call propose_posting_times for the platforms that have drafted posts "
    "(the audience's time zone if the task names one, else UTC). Then call schedule_posts once with every drafted "
    "social_post artifact id and the proposed time for its platform. Answer with one line summarising the schedule."
)


def cancel_scheduled_posts(posts: ScheduledPosts) -> CancelEffects:
    """The team's ``cancel_workflow``: cancel the workflow's still-scheduled posts (as
    ``SocialService/CancelWorkflowPosts`` does), one ``scheduled_post`` effect per post cancelled."""

    async def cancel(workflow_id: str) -> Sequence[CancelledEffect]:
        return [CancelledEffect(SCHEDULED_POST, post.id) for post in await posts.cancel_workflow(workflow_id)]

    return cancel


def social_team(registry: ToolRegistry | None = None, posts: ScheduledPosts | None = None) -> TeamDefinition:
    """The social team.

    Args:
        registry: Where the workers take their tools from (by default one without a records store).
        posts: The scheduled posts; with them, cancelling a workflow cancels its still-scheduled posts.
    """
    if registry is None:
        from social_service.tools import social_registry  # tools.py names its registry after TEAM

        registry = social_registry()
    drafter = Worker(
        name=POST_DRAFTER,
        description=POST_DRAFTER_DESCRIPTION,
        instructions=POST_DRAFTER_INSTRUCTIONS,
        tools=registry.tools_for(POST_DRAFTER, "draft_post"),
        offline=POST_DRAFTER_OFFLINE,
        build_artifacts=post_artifacts,
    )
    scheduler = Worker(
        name=SCHEDULER,
        description=SCHEDULER_DESCRIPTION,
        instructions=SCHEDULER_INSTRUCTIONS,
        tools=registry.tools_for(SCHEDULER, "propose_posting_times", "schedule_posts"),
        offline=SCHEDULER_OFFLINE,
        build_artifacts=schedule_artifacts,
    )
    return TeamDefinition(
        name=TEAM,
        workers=(drafter, scheduler),
        finish_when="once the posts are drafted and scheduled",
        tools=registry,
        cancel_workflow=cancel_scheduled_posts(posts) if posts is not None else None,
    )
