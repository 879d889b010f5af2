"""What the social team's workers leave behind: a ``social_post`` per drafted post, and a ``posting_schedule``."""

from __future__ import annotations

from typing import Any

from common.agents.worker import ArtifactDraft, WorkerOutput
from social_service.platforms import RULES, Platform


def post_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    """One ``social_post`` per ``draft_post`` result; ``metadata["platform"]`` names its platform."""
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
                **(
                    {"brand_warnings": "; ".join(post["brand_warnings"])}
                    if post.get("brand_warnings")
                    else {}
                ),
            },
        )
        for post in output.results_of("draft_post")
    ]


def _schedule_table(slots: list[dict[str, Any]], scheduled: list[dict[str, Any]]) -> str:
    post_of = {p["platform"]: p for p in scheduled}
    rows = []
    for s in slots:
        post = post_of.get(s["platform"])
        where = f"{post['post_id']} ({post['status']})" if post else "not scheduled"
        rows.append(f"| {s['platform']} | {s['at']} | {s['rationale']} | {where} |")
    return "\n".join(["| platform | time | why | scheduled post |", "| --- | --- | --- | --- |", *rows])


def schedule_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    """The ``posting_schedule``: the proposed slots, and the posts scheduled for them (none without slots)."""
    slots = [s for value in output.results_of("propose_posting_times") for s in value]
    if not slots:
        return []
    scheduled = [p for value in output.results_of("schedule_posts") for p in value]
    metadata = {"slots": ";".join(f"{s['platform']}@{s['at']}" for s in slots)}
    if scheduled:
        metadata["post_ids"] = " ".join(p["post_id"] for p in scheduled)
        metadata["scheduled"] = ";".join(f"{p['platform']}@{p['at']}={p['post_id']}" for p in scheduled)
    return [
        ArtifactDraft(
            kind="posting_schedule",
            title="Posting schedule",
            content=_schedule_table(slots, scheduled),
            metadata=metadata,
        )
    ]
