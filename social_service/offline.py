"""The offline model's behaviour for the social team's workers: which tools to call, and the text to answer with.

Plans read the task and the artifacts in scope as data: the content team's ``article`` (its title), the research
team's ``research_brief`` (its ``findings`` metadata) and the drafted ``social_post`` artifacts (their
``platform`` metadata). The tenant's profile shapes them: only its enabled platforms, its brand's default hashtags and
required disclosures on every post, its time zone (unless the task names one) for posting times.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.agents.offline_work import OfflineWork, TemplateBehaviour, ToolCall
from common.agents.profile import brand_of, enabled_platforms, time_zone, with_disclosures
from common.agents.scope import metadata_list
from common.agents.state import ArtifactData
from common.text import clip, extract_keywords, topic_terms
from social_service.platforms import RULES, Platform, platforms_mentioned

_CITATION = re.compile(r"\s*\[\d+\]\s*$")
_ZONE_NAME = re.compile(r"\b(?:[A-Z][A-Za-z_+-]*/)+[A-Z][A-Za-z0-9_+-]*\b|\bUTC\b")


def _names(platforms: list[Platform]) -> str:
    return ", ".join(RULES[p].display_name for p in platforms)


def target_platforms(work: OfflineWork) -> list[Platform]:
    """Platforms the task names (all supported ones when it names none) that the tenant publishes on."""
    enabled = enabled_platforms(work.profile)
    named = platforms_mentioned(work.task) or list(RULES)
    return [p for p in named if not enabled or p.value in enabled]


def why_no_platform(work: OfflineWork) -> str:
    """Why there is no platform to draft for ("" when there is one)."""
    if target_platforms(work):
        return ""
    enabled = [p for p in RULES if p.value in enabled_platforms(work.profile)]
    named = platforms_mentioned(work.task)
    if named:
        return (
            f"the task names {_names(named)}, which the tenant does not publish on "
            f"(its platforms: {_names(enabled) or 'none supported'})"
        )
    return "the tenant publishes on none of the supported platforms"


def task_time_zone(task: str) -> str:
    """The first IANA time zone the task names ("Europe/Berlin", "UTC"); "" when it names none."""
    for match in _ZONE_NAME.finditer(task):
        try:
            ZoneInfo(match.group())
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return match.group()
    return ""


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
    """One ``draft_post`` per target platform, from the article's title and the first research finding, with the
    brand's default hashtags first and its required disclosures at the end (``draft_post`` fits them, removes
    banned phrases and keeps the disclosures)."""
    title, point = headline(work), key_point(work)
    brand = brand_of(work.profile)
    topic = topic_terms(work.task, 3)
    hashtags = [
        *brand.default_hashtags,
        *([" ".join(topic)] if len(topic) > 1 else []),
        *(topic or extract_keywords(work.task, 3)),
    ]
    return [
        (
            "draft_post",
            {
                "platform": p.value,
                "text": with_disclosures(_post_body(p, title, point), brand.required_disclosures),
                "hashtags": hashtags,
            },
        )
        for p in target_platforms(work)
    ]


def render_posts(work: OfflineWork) -> str:
    """One line listing the drafts (or why there is none), and what the brand rules changed."""
    posts = work.dict_results_of("draft_post")
    if not posts and (reason := why_no_platform(work)):
        return f"Drafted no post: {reason}."
    text = f"Drafted {len(posts)} post(s): " + ", ".join(
        f"{p['platform']} ({p['length']}/{p['limit']})" for p in posts
    )
    warnings = list(dict.fromkeys(w for p in posts for w in p.get("brand_warnings", [])))
    return text + (f". Brand rules applied: {'; '.join(warnings)}." if warnings else "")


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
    if not names:
        return []
    zone = task_time_zone(work.task) or time_zone(work.profile) or "UTC"
    calls: list[ToolCall] = [
        ("propose_posting_times", {"platforms": names, "posts_per_platform": 1, "timezone": zone})
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
    if not slots and (reason := why_no_platform(work)) and not work.of_kind("social_post"):
        return f"Nothing to schedule: {reason}."
    text = "Proposed schedule: " + "; ".join(f"{s['platform']} at {s['at']}" for s in slots)
    if scheduled := _items(work, "schedule_posts"):
        text += f". Scheduled {len(scheduled)} post(s) for publication."
    return text


POST_DRAFTER_OFFLINE = TemplateBehaviour(render_posts, plan_posts)
"""The post drafter under the offline model."""

SCHEDULER_OFFLINE = TemplateBehaviour(render_schedule, plan_schedule)
"""The scheduler under the offline model."""
