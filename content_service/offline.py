"""The content team under the offline model: tool plans and text templates for each worker.

Plans and templates read an ``OfflineWork``: the task, the structured artifacts in scope (the research team's
``research_brief`` findings, the writer's ``article``) and the tool results so far; never the prompt text. The
tenant's brand shapes the article: written for its audience, without its banned phrases, ending with its required
disclosures.
"""

from __future__ import annotations

from common.agents.offline_work import OfflineWork, TemplateBehaviour, ToolCall
from common.agents.profile import brand_of, remove_banned_phrases, with_disclosures
from common.agents.scope import metadata_list
from common.text import clip, extract_keywords, topic_terms, topic_title
from content_service.images import MAX_SUBJECT_CHARS, OFF_NOTICE, clean_subject, image_brief

MAX_FINDINGS = 6
"""Research findings the article quotes at most."""


def target_keywords(task: str, limit: int = 3) -> list[str]:
    """SEO target keywords: what the task is about, else its most frequent terms."""
    return topic_terms(task, limit) or extract_keywords(task, limit)


def research_findings(work: OfflineWork) -> list[str]:
    """The findings of the research briefs in scope, each with its citation marker (at most ``MAX_FINDINGS``)."""
    findings: list[str] = []
    for artifact in work.of_kind("research_brief"):
        findings += metadata_list(artifact, "findings")
    return findings[:MAX_FINDINGS]


# --- writer ------------------------------------------------------------------------------------------------


def article_title(topic: str) -> str:
    """The longest title form for a topic that fits 60 characters (the bare topic when none does)."""
    forms = (f"{topic}: A Practical Guide for Marketing Teams", f"{topic}: A Practical Guide")
    return next((t for t in forms if len(t) <= 60), topic)


def _introduction(task: str, topic: str, keyword: str, audience: str = "") -> list[str]:
    meta = clip(
        f"What marketing teams need to know about {keyword}: key findings, a step-by-step plan and the "
        "mistakes to avoid.",
        158,
    )
    return [
        f"# {article_title(topic)}",
        f"Meta description: {meta}",
        "## Why this matters now",
        f"This article answers a concrete brief: “{clip(task, 400).rstrip('.')}”. It is written for "
        f"{clip(audience, 200).rstrip('.') if audience else 'busy marketing teams'} who want a clear plan for "
        f"{keyword}, not a wall of jargon. Each section ends with something you can do this week.",
        f"Teams that treat {keyword} as a programme rather than a one-off post get better results. They set a "
        "goal, pick one audience, and measure what changed. The rest of this guide shows how.",
    ]


def _research_section(findings: list[str], keyword: str) -> list[str]:
    if not findings:
        return [
            "## What the research says",
            f"No research brief came with this task, so the points below are general practice for {keyword}. "
            "Check them against your own data before you publish.",
        ]
    return [
        "## What the research says",
        "The research team's brief points to a few facts worth building on:",
        "\n".join(f"- {f}" for f in findings),
    ]


def _plan_and_conclusion(topic: str, keyword: str) -> list[str]:
    return [
        "## A step-by-step plan",
        f"1. **Define the goal.** Decide what success looks like for {keyword} and write it down as a number.\n"
        "2. **Know the audience.** Name the reader, the problem they have and the words they use for it.\n"
        "3. **Build one strong asset.** A clear article or page that answers the main question in depth.\n"
        "4. **Distribute it.** Share it where the audience already spends time, with a version for each channel.\n"
        "5. **Measure and repeat.** Compare the result with the goal, keep what worked and drop what did not.",
        "## Mistakes to avoid",
        "Do not chase every channel at once. Do not publish without a clear call to action. Do not judge the "
        "result after one day: give each change enough time and traffic to show a real effect.",
        "## Conclusion",
        f"Start small, stay consistent and let the numbers guide the next step. If {topic.lower()} matters to "
        "your team, pick one action from the plan above and schedule it today.",
    ]


def render_article(work: OfflineWork) -> str:
    """The writer's markdown article: title, meta description, the research's findings, a plan, a conclusion;
    written for the brand's audience, its banned phrases removed, its required disclosures at the end."""
    brand = brand_of(work.profile)
    topic = topic_title(work.task, 3) or "Your Product"
    keyword = " ".join(topic_terms(work.task, 3)) or "marketing"
    paragraphs = [
        *_introduction(work.task, topic, keyword, brand.audience),
        *_research_section(research_findings(work), keyword),
        *_plan_and_conclusion(topic, keyword),
    ]
    article, _ = remove_banned_phrases("\n\n".join(paragraphs), brand.banned_phrases)
    return with_disclosures(article, brand.required_disclosures)


# --- SEO analyst -------------------------------------------------------------------------------------------


def plan_seo(work: OfflineWork) -> list[ToolCall]:
    """Analyse the latest article in scope for the task's two target keywords (nothing without an article)."""
    articles = work.of_kind("article")
    if not articles:
        return []
    keywords = target_keywords(work.task, 2)
    return [("analyze_article_seo", {"artifact_id": articles[-1]["id"], "keywords": keywords})]


def render_seo(work: OfflineWork) -> str:
    """The score and recommendations of the latest SEO report."""
    reports = [value for value in work.results_of("analyze_article_seo") if value]
    if not reports or not isinstance(reports[-1], dict):
        return "There was no article to analyse."
    report = reports[-1]
    advice = [f"- {issue}" for issue in report["issues"]]
    if suggestions := report.get("keyword_suggestions"):
        terms = ", ".join(f'"{k["keyword"]}"' for k in suggestions[:5])
        advice.append(f"- Work in terms the research uses that the article misses or under-uses: {terms}.")
    advice = advice or ["- No issues found: publish as is."]
    return (
        f"SEO score {report['score']}/100 for {report['artifact_id']}.\n\n## Recommendations\n"
        + "\n".join(advice)
    )


# --- illustrator -------------------------------------------------------------------------------------------


def image_subject(work: OfflineWork) -> str:
    """What the image is about: the article's title, else the task's topic (never research text)."""
    articles = work.of_kind("article")
    if articles and articles[-1]["title"].strip():
        return articles[-1]["title"]
    return topic_title(work.task, 4) or clip(work.task, MAX_SUBJECT_CHARS) or "Marketing article"


def plan_image(work: OfflineWork) -> list[ToolCall]:
    """One landscape image of the subject."""
    subject = clean_subject(image_subject(work))
    if len(subject) < 3:
        subject = f"{subject} for marketing teams"
    return [("generate_image", {"subject": subject, "orientation": "landscape"})]


def render_image(work: OfflineWork) -> str:
    """What was generated, else an image brief saying why there is no image."""
    results = work.results_of("generate_image")
    if results and isinstance(results[-1], dict):
        image = results[-1]
        revised = f"\n\nRevised prompt: {image['revised_prompt']}" if image.get("revised_prompt") else ""
        return f"Generated a {image['size']} image with {image['model']}.\n\nAlt text: {image['alt_text']}{revised}"
    reason = OFF_NOTICE
    if results:
        reason = f"Image generation failed ({clip(str(results[-1]), 300)}), so here is a brief instead."
    return image_brief(image_subject(work), reason)


WRITER = TemplateBehaviour(render_article)
SEO_ANALYST = TemplateBehaviour(render_seo, plan_seo)
ILLUSTRATOR = TemplateBehaviour(render_image, plan_image)
