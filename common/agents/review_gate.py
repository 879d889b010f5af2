"""A team's human-review gate: the node that pauses the team's subgraph with LangGraph's ``interrupt()`` until a
reviewer decides, and the policy that says when it applies.

A team declares a :class:`ReviewGate` in its ``TeamDefinition`` (which artifact kinds a person approves, at which
stage, and the hooks over its own records). When the brief's approval policy asks for it, the team lead's FINISH
goes to the gate instead of ending the run; the gate interrupts with the items to review, and the team service
answers the caller "input required" (``BriefResult.review_request``). The run's checkpoint keeps the state; the
caller resumes it by calling again with the same idempotency key and a ``Brief.review_decision``, which the service
passes to ``Command(resume=...)``. On approval the gate applies the hooks (the social team marks its scheduled posts
approved with the digests of their exact texts) and ends the run with the approved texts as the artifacts; on a
change request it marks the drafts superseded, adds the comments to the brief and hands back to the team lead,
which runs the workers again; a rejection ends the run with nothing approved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from langgraph.graph import END
from langgraph.types import Command, interrupt

from common.agents.state import ArtifactData, StepKind, new_step

REVIEW_GATE = "human_review"
"""The gate's node name (and the agent name of its steps)."""

REVIEW_RESET = "__review__"
"""A ``completed`` entry that makes the team lead run its workers again (after a change request)."""

SUPERSEDED = "superseded_by_review"
"""Artifact metadata key of a draft a reviewer sent back (workers no longer see it)."""

APPROVED_DIGEST = "approved_digest"
"""Artifact metadata key: SHA-256 (hex) of the approved text."""


class ReviewStage(StrEnum):
    """When a team's work is reviewed."""

    PUBLISHING = "publishing"  # before anything is published
    CONTENT = "content"  # before content leaves the content team


class Verdict(StrEnum):
    """A decision's verdict (``ReviewVerdict`` without its prefix, lower case)."""

    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"


ApprovalHook = Callable[[str, str, Mapping[str, Any]], Awaitable[None]]
"""Applies an approval to the team's records (tenant id, workflow id, the decision as data)."""

DiscardHook = Callable[[str, str, Sequence[str]], Awaitable[None]]
"""Withdraws the team's records of drafts that were not approved (tenant id, workflow id, artifact ids)."""

ScheduleLookup = Callable[[str, str], Awaitable[Mapping[str, datetime]]]
"""When each artifact of a workflow would be published (tenant id, workflow id) -> {artifact id: time}."""


@dataclass(frozen=True)
class ReviewGate:
    """What of a team's work a person approves, and how approvals reach the team's records.

    Attributes:
        stage: When the work is reviewed (the approval policy names the stages that need review).
        artifact_kinds: The kinds of artifact a reviewer approves (``social_post``).
        live: Whether the default policy (unset) applies: the team's effects reach the public (live publishing).
        approve: Applies an approval to the team's records.
        discard: Withdraws the records of drafts a reviewer did not approve.
        scheduled: When each item would be published (the review expires then).
        max_lengths: The length limit of an item by its ``platform`` metadata (for the reviewer's edits).
    """

    stage: ReviewStage
    artifact_kinds: tuple[str, ...]
    live: bool = False
    approve: ApprovalHook | None = None
    discard: DiscardHook | None = None
    scheduled: ScheduleLookup | None = None
    max_lengths: Mapping[str, int] | None = None


POLICY_STAGES = {
    "APPROVAL_POLICY_NONE": frozenset[ReviewStage](),
    "APPROVAL_POLICY_BEFORE_PUBLISHING": frozenset({ReviewStage.PUBLISHING}),
    "APPROVAL_POLICY_BEFORE_CONTENT_LEAVES": frozenset({ReviewStage.PUBLISHING, ReviewStage.CONTENT}),
}
POLICY_ORDER = (
    "APPROVAL_POLICY_NONE",
    "APPROVAL_POLICY_UNSPECIFIED",
    "APPROVAL_POLICY_BEFORE_PUBLISHING",
    "APPROVAL_POLICY_BEFORE_CONTENT_LEAVES",
)
"""Policies from the laxest to the strictest (unset is the default: before publishing where it is live)."""


def stricter_policy(tenant_policy: str, task_policy: str) -> str:
    """The policy a task runs under: the task's when it is stricter than the tenant's, else the tenant's."""
    rank = {name: i for i, name in enumerate(POLICY_ORDER)}
    tenant = tenant_policy if tenant_policy in rank else "APPROVAL_POLICY_UNSPECIFIED"
    task = task_policy if task_policy in rank else "APPROVAL_POLICY_UNSPECIFIED"
    return task if rank[task] > rank[tenant] else tenant


def review_required(gate: ReviewGate | None, policy: str) -> bool:
    """Whether a brief under ``policy`` (an ``ApprovalPolicy`` name) needs the gate's review."""
    if gate is None:
        return False
    if policy in POLICY_STAGES:
        return gate.stage in POLICY_STAGES[policy]
    return gate.live and gate.stage == ReviewStage.PUBLISHING  # unset: the default, where publishing is live


def digest(text: str) -> str:
    """SHA-256 (hex) of a text's UTF-8 bytes: what an approval binds to."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reviewable(gate: ReviewGate, artifacts: Sequence[ArtifactData]) -> list[ArtifactData]:
    """The artifacts a reviewer decides on: the gate's kinds, not superseded by an earlier round."""
    return [
        a for a in artifacts if a["kind"] in gate.artifact_kinds and not a.get("metadata", {}).get(SUPERSEDED)
    ]


async def _items(
    gate: ReviewGate, state: Mapping[str, Any], drafts: list[ArtifactData]
) -> list[dict[str, Any]]:
    brief = state["brief"]
    times = await gate.scheduled(brief.get("tenant_id", ""), brief["workflow_id"]) if gate.scheduled else {}
    limits = gate.max_lengths or {}
    items = []
    for artifact in drafts:
        metadata = artifact.get("metadata", {})
        at = times.get(artifact["id"])
        items.append(
            {
                "artifact_id": artifact["id"],
                "kind": artifact["kind"],
                "title": artifact["title"],
                "text": artifact["content"],
                "platform": metadata.get("platform", ""),
                "scheduled_time": at.isoformat() if at else "",
                "agent": artifact.get("agent", ""),
                "model": metadata.get("model", ""),
                "max_length": limits.get(metadata.get("platform", ""), 0),
            }
        )
    return items


def build_review_gate(team: str, gate: ReviewGate, team_lead: str) -> Callable[..., Awaitable[Command[str]]]:
    """The gate node of a team's subgraph."""

    async def human_review(state: Mapping[str, Any]) -> Command[str]:
        drafts = reviewable(gate, state.get("artifacts", []))
        round_ = int(state.get("review_round", 0)) + 1
        decision = interrupt({"round": round_, "items": await _items(gate, state, drafts)})
        # Everything below runs once the caller resumes the run with the reviewer's decision.
        brief = state["brief"]
        tenant, workflow_id = brief.get("tenant_id", ""), brief["workflow_id"]
        verdict = Verdict(decision["verdict"])
        index = len(state.get("steps", [])) + 1
        reviewer = decision.get("reviewer", "")
        if verdict == Verdict.APPROVED:
            if gate.approve is not None:
                await gate.approve(tenant, workflow_id, decision)
            texts, digests = decision.get("approved_texts", {}), decision.get("approved_digests", {})
            approved = [
                {
                    **a,
                    "content": texts[a["id"]],
                    "metadata": {**a["metadata"], APPROVED_DIGEST: digests[a["id"]]},
                }
                for a in drafts
                if a["id"] in texts
            ]
            summary = f"{len(approved)} item(s) approved by {reviewer or 'a reviewer'} (round {round_})"
            step = new_step(team, REVIEW_GATE, StepKind.WORK, index, summary=summary)
            return Command(goto=END, update={"artifacts": approved, "steps": [step], "review_round": round_})
        if gate.discard is not None:
            await gate.discard(tenant, workflow_id, [a["id"] for a in drafts])
        withdrawn = [{**a, "metadata": {**a["metadata"], SUPERSEDED: str(round_)}} for a in drafts]
        comments = review_comments(decision)
        summary = (
            f"{verdict.value.replace('_', ' ')} by {reviewer or 'a reviewer'} (round {round_}): {comments}"
        )
        step = new_step(team, REVIEW_GATE, StepKind.WORK, index, summary=summary[:300])
        update: dict[str, Any] = {"artifacts": withdrawn, "steps": [step], "review_round": round_}
        if verdict == Verdict.REJECTED:
            return Command(goto=END, update=update)
        instructions = (
            f"{brief['instructions']}\n\nReviewer comments on round {round_}, address them: {comments}"
        )
        update["brief"] = {**brief, "instructions": instructions.strip()}
        update["completed"] = [{"name": REVIEW_RESET, "outcome": f"changes requested: {comments}"}]
        return Command(goto=team_lead, update=update)

    return human_review


def review_comments(decision: Mapping[str, Any]) -> str:
    """A decision's comments as one line: the general comment, then each item's."""
    parts = [str(decision.get("comments", "")).strip()]
    parts += [f"{c['artifact_id']}: {c['comment']}" for c in decision.get("item_comments", [])]
    return " | ".join(p for p in parts if p)


def merge_artifacts(left: list[ArtifactData], right: list[ArtifactData]) -> list[ArtifactData]:
    """The team state's artifact reducer: a new id is appended, a known id replaced (an approved edit, a draft
    superseded by a review), so the artifacts keep their order and their ids stay unique."""
    merged = list(left)
    position = {a["id"]: i for i, a in enumerate(merged)}
    for artifact in right:
        if artifact["id"] in position:
            merged[position[artifact["id"]]] = artifact
        else:
            position[artifact["id"]] = len(merged)
            merged.append(artifact)
    return merged


def since_last_reset(completed: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """The ``completed`` entries from the last change request on (the workers to run again are the others); the
    change request itself comes first, named after the gate, so the team lead sees the reviewer's comments."""
    last = max((i for i, c in enumerate(completed) if c["name"] == REVIEW_RESET), default=None)
    if last is None:
        return [dict(c) for c in completed]
    return [{"name": REVIEW_GATE, "outcome": completed[last]["outcome"]}, *map(dict, completed[last + 1 :])]
