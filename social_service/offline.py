"""The offline model's behaviour for the social team's workers: which tools to call, and the text to answer with.

Plans read the task and the artifacts in scope as data: the content team's ``article`` (its title), the research
team's ``research_brief`` (its ``findings`` metadata) and the drafted ``social_post`` artifacts (their
``platform`` metadata).
"""

from __future__ import annotations

import re
from typing import Any

from common.agents.offline_work import OfflineWork, TemplateBehaviour, ToolCall
from common.agents.scope import metadata_list
from common.agents.state import ArtifactData
from common.text import clip, extract_keywords, topic_terms
from social_service.platforms import RULES, Platform, platforms_mentioned

_CITATION = re.compile(r"\s*\[\d+\]\s*$")


def target_platforms(work: OfflineWork) -> list[Platform]:
    """Platforms the task names, or all supported platforms when it names none."""
    return platforms_mentioned(work.task) or list(RULES)


def headline(work: OfflineWork) -> str:
    """The latest article's title, else the task."""
    articles = work.of_kind("article")
    if articles:
        return articles[-1]["title"]
    return clip(work.task, 120)


def key_point(work: OfflineWork) -> str:
    """The first research finding in scope, without its citation marker ("" when there is none)."""
    for brief in work.of_kind("research_brief"):
        for finding in metadata_list(brief, "findings"):
            if point := _CITATION.sub("", finding).strip():
                return point
    return ""


# --- post drafter ------------------------------------------------------------------------------------------


def _post_body(platform: Platform, title: str, point: str) -> str:
    if platform is Platform.X:
        return f"New: {title}. {point}" if point else f"New: {title}. The plan, step by step, for your team."
    parts = (
        title,
        point and f"One finding stood out: {point}",
        "We put the full plan in a new article: the goal to set, the audience to pick, and the steps to "
        "measure what works. What would you add?",
    )
    return "\n\n".join(part for part in parts if part)


def plan_posts(work: OfflineWork) -> list[ToolCall]:
    """One ``draft_post`` per target platform, from the article's title and the first research finding."""
    title, point = headline(work), key_point(work)
    topic = topic_terms(work.task, 3)
    hashtags = ([" ".join(topic)] if len(topic) > 1 else []) + (topic or extract_keywords(work.task, 3))
    return [
        ("draft_post", {"platform": p.value, "text": _post_body(p, title, point), "hashtags": hashtags})
        for p in target_platforms(work)
    ]


def render_posts(work: OfflineWork) -> str:
    """One line listing the drafts."""
    posts = work.dict_results_of("draft_post")
    return f"Drafted {len(posts)} post(s): " + ", ".join(
        f"{p['platform']} ({p['length']}/{p['limit']})" for p in posts
    )


# --- scheduler ---------------------------------------------------------------------------------------------


def _items(work: OfflineWork, tool: str) -> list[dict[str, Any]]:
    """The objects in a tool's successful list results."""
    return [item for value in work.results_of(tool) if isinstance(value, list) for item in value]


def _platform(post: ArtifactData) -> str:
    return post.get("metadata", {}).get("platform", "")


def plan_schedule(work: OfflineWork) -> list[ToolCall]:
    """``propose_posting_times`` for the platforms with drafted posts (else the target platforms); once the
    slots are in, ``schedule_posts`` with each drafted post at its platform's first slot."""
    drafted = work.of_kind("social_post")
    drafted_on = {_platform(a) for a in drafted}
    names = [p.value for p in RULES if p.value in drafted_on] or [p.value for p in target_platforms(work)]
    calls: list[ToolCall] = [
        ("propose_posting_times", {"platforms": names, "posts_per_platform": 1, "timezone": "UTC"})
    ]
    slots = _items(work, "propose_posting_times")
    if "schedule_posts" in work.tools and slots and drafted:
        first_slot: dict[str, str] = {}
        for slot in slots:
            first_slot.setdefault(slot["platform"], slot["at"])
        posts = [
            {"artifact_id": a["id"], "at": first_slot[_platform(a)]}
            for a in drafted
            if _platform(a) in first_slot
        ]
        if posts:
            calls.append(("schedule_posts", {"posts": posts}))
    return calls


def render_schedule(work: OfflineWork) -> str:
    """The proposed slots, and how many posts were scheduled."""
    slots = _items(work, "propose_posting_times")
    text = "Proposed schedule: " + "; ".join(f"{s['platform']} at {s['at']}" for s in slots)
    if scheduled := _items(work, "schedule_posts"):
        text += f". Scheduled {len(scheduled)} post(s) for publication."
    return text


POST_DRAFTER_OFFLINE = TemplateBehaviour(render_posts, plan_posts)
"""The post drafter under the offline model."""

SCHEDULER_OFFLINE = TemplateBehaviour(render_schedule, plan_schedule)
"""The scheduler under the offline model."""
