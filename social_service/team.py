"""The social team: a team lead routing between a post drafter and a scheduler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from common.agents.team_graph import CancelEffects, CancelledEffect, TeamDefinition
from common.agents.worker import Worker
from common.tools.registry import ToolRegistry
from social_service.artifacts import post_artifacts, schedule_artifacts
from social_service.offline import POST_DRAFTER_OFFLINE, SCHEDULER_OFFLINE
from social_service.scheduled_posts import ScheduledPosts
from social_service.tenant_secrets import SECRET_NAMES, TenantSecrets

TEAM = "social"
SCHEDULED_POST = "scheduled_post"
"""The kind of side effect the team undoes when its workflow is cancelled."""

POST_DRAFTER = "post_drafter"
POST_DRAFTER_DESCRIPTION = "drafts one post per platform, fitted to the platform's limits"
POST_DRAFTER_INSTRUCTIONS = (
    "You are the social team's post drafter. For each platform the task names (X and LinkedIn when it names none) "
    "that the tenant publishes on (the brief's brand and platforms say which), "
    "call draft_post once with a post body written for that platform from the article and research in the brief, "
    "plus two to five hashtags. Then answer with one line listing the drafts."
)

SCHEDULER = "scheduler"
SCHEDULER_DESCRIPTION = "proposes posting times for the drafted posts and schedules them"
SCHEDULER_INSTRUCTIONS = (
    "You are the social team's scheduler. Call propose_posting_times for the platforms that have drafted posts "
    "(pass timezone only when the task names one; the tenant's time zone applies otherwise). Then call "
    "schedule_posts once with every drafted "
    "social_post artifact id and the proposed time for its platform. Answer with one line summarising the schedule."
)


def cancel_scheduled_posts(posts: ScheduledPosts) -> CancelEffects:
    """The team's ``cancel_workflow``: cancel the tenant's workflow's still-scheduled posts (as
    ``SocialService/CancelWorkflowPosts`` does), one ``scheduled_post`` effect per post cancelled."""

    async def cancel(tenant_id: str, workflow_id: str) -> Sequence[CancelledEffect]:
        cancelled = await posts.cancel_workflow(tenant_id, workflow_id)
        return [CancelledEffect(SCHEDULED_POST, post.id) for post in cancelled]

    return cancel


def with_records(
    team: TeamDefinition, posts: ScheduledPosts, secrets: TenantSecrets | None = None, live: bool = False
) -> TeamDefinition:
    """The team with the hooks over its records: cancelling a workflow cancels its still-scheduled posts, erasing
    a workflow deletes its posts, erasing a tenant deletes its posts and secrets, ``SetTenantSecrets`` stores
    the tenant's platform credentials (when ``secrets`` is given), and its posts are approved by a person before
    they are published (``social_service.approvals``; by default when publishing is ``live``)."""
    from social_service.approvals import with_review

    async def erase_tenant(tenant_id: str) -> int:
        erased = await posts.erase_tenant(tenant_id)
        return erased + (await secrets.erase_tenant(tenant_id) if secrets is not None else 0)

    async def set_secrets(tenant_id: str, values: Mapping[str, str]) -> Sequence[str]:
        assert secrets is not None
        return await secrets.set(tenant_id, values)

    return replace(
        with_review(team, posts, live),
        cancel_workflow=cancel_scheduled_posts(posts),
        erase_workflow=posts.erase_workflow,
        erase_tenant=erase_tenant,
        secret_names=SECRET_NAMES if secrets is not None else (),
        set_secrets=set_secrets if secrets is not None else None,
    )


def social_team(
    registry: ToolRegistry | None = None,
    posts: ScheduledPosts | None = None,
    secrets: TenantSecrets | None = None,
    live: bool = False,
) -> TeamDefinition:
    """The social team.

    Args:
        registry: Where the workers take their tools from (by default one without a records store).
        posts: The scheduled posts; with them, cancelling or erasing a workflow or a tenant acts on its posts.
        secrets: The tenants' platform credentials (``SetTenantSecrets``; erased with their tenant).
        live: Publishing is live (``SOCIAL_PUBLISH=live``): the default approval policy applies to the posts.
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
    team = TeamDefinition(
        name=TEAM,
        workers=(drafter, scheduler),
        finish_when="once the posts are drafted and scheduled",
        tools=registry,
    )
    return with_records(team, posts, secrets, live) if posts is not None else team
