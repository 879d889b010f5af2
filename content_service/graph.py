"""The content team: a team lead routing among an article writer, an SEO analyst and an illustrator."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field

from common.agents.brief import ParsedBrief, brief_from_messages
from common.agents.team_graph import TeamDefinition
from common.agents.worker import ArtifactDraft, Worker, WorkerOutput, artifacts_in_scope, find_artifact
from common.llm.offline import OFFLINE_NOTICE, TemplateBehaviour, tool_results
from common.text import clip, extract_keywords, topic_terms, topic_title
from common.tools.registry import ToolRegistry, ToolSpec
from content_service.images import (
    HOW_TO_ENABLE,
    MAX_SUBJECT_CHARS,
    OFF_NOTICE,
    SERVICE,
    ImageGenerator,
    Orientation,
    alt_text,
    clean_subject,
    image_brief,
)
from content_service.seo import analyze_seo

TEAM = "content"
_META = re.compile(r"^\W*meta description\W*:\W*(.+?)\W*$", re.IGNORECASE | re.MULTILINE)
_BULLET_WITH_CITATION = re.compile(r"^- (.+?\[\d+\])\s*$", re.MULTILINE)


RESEARCH_KINDS = ("research_brief", "search_results", "web_pages")
"""Upstream artifacts whose text feeds the SEO keyword suggestions."""
IMAGE_KEYWORDS = ("image", "illustration", "illustrate", "visual", "picture", "photo", "banner", "graphic")
"""Task words that bring in the illustrator when image generation is off (with images on it always runs)."""


class AnalyzeArticleArgs(BaseModel):
    """Arguments of ``analyze_article_seo``."""

    artifact_id: str = Field(min_length=1, max_length=128, description="Id of the article artifact")
    keywords: list[str] = Field(default_factory=list, max_length=10, description="Target keywords or phrases")


class GenerateImageArgs(BaseModel):
    """Arguments of ``generate_image``."""

    subject: str = Field(
        min_length=3,
        max_length=MAX_SUBJECT_CHARS,
        description="The article's title (or the task's topic); never text copied from research or web pages",
    )
    orientation: Orientation = Field("landscape", description="landscape suits X and LinkedIn feeds")


def content_tools(images: ImageGenerator) -> ToolRegistry:
    """The team's tools: the local SEO analyser and image generation (configured when images are on)."""

    async def analyze_article(artifact_id: str, keywords: list[str] | None = None) -> dict[str, Any]:
        article = find_artifact(artifact_id)
        research = [
            a["content"].replace(OFFLINE_NOTICE, "")
            for a in artifacts_in_scope()
            if a["kind"] in RESEARCH_KINDS
        ]
        report = analyze_seo(article["content"], keywords or (), research_texts=research)
        return report.to_dict() | {"artifact_id": artifact_id}

    async def generate_image(subject: str, orientation: Orientation = "landscape") -> dict[str, Any]:
        image = await images.generate(subject, orientation)
        return {
            "subject": clean_subject(subject),
            "model": image.model,
            "size": image.size,
            "prompt": image.prompt,
            "revised_prompt": image.revised_prompt,
            "alt_text": alt_text(subject),
            "image_b64": base64.b64encode(image.png).decode(),
        }

    return ToolRegistry(TEAM).add(
        ToolSpec(
            "analyze_article_seo",
            "Compute SEO figures for an article artifact: keyword density, readability, lengths, heading "
            "structure, issues, a 0-100 score, and keywords the upstream research uses that the article misses.",
            AnalyzeArticleArgs,
            analyze_article,
        ),
        ToolSpec(
            "generate_image",
            "Generate one illustration (PNG) for the article from its title; the prompt template is fixed.",
            GenerateImageArgs,
            generate_image,
            service=SERVICE,
            configured=images.configured,
            status=images.status,
        ),
    )


def target_keywords(task: str, limit: int = 3) -> list[str]:
    """SEO target keywords: what the task is about, else its most frequent terms."""
    return topic_terms(task, limit) or extract_keywords(task, limit)


def _findings(brief: ParsedBrief) -> list[str]:
    findings: list[str] = []
    for artifact in brief.of_kind("research_brief"):
        findings += _BULLET_WITH_CITATION.findall(artifact["content"])
    return findings[:6]


# --- writer ------------------------------------------------------------------------------------------------


def _render_article(messages: Sequence[BaseMessage]) -> str:
    brief = brief_from_messages(messages)
    topic = topic_title(brief.task, 3) or "Your Product"
    keyword = " ".join(topic_terms(brief.task, 3)) or "marketing"
    findings = _findings(brief)
    title = next(
        t
        for t in (f"{topic}: A Practical Guide for Marketing Teams", f"{topic}: A Practical Guide", topic)
        if len(t) <= 60 or t == topic
    )
    meta = clip(
        f"What marketing teams need to know about {keyword}: key findings, a step-by-step plan and the "
        "mistakes to avoid.",
        158,
    )
    paragraphs = [
        f"# {title}",
        f"Meta description: {meta}",
        "## Why this matters now",
        f"This article answers a concrete brief: “{clip(brief.task, 400).rstrip('.')}”. It is written for busy marketing "
        f"teams that want a clear plan for {keyword}, not a wall of jargon. Each section ends with something "
        "you can do this week.",
        f"Teams that treat {keyword} as a programme rather than a one-off post get better results. They set a "
        "goal, pick one audience, and measure what changed. The rest of this guide shows how.",
        "## What the research says",
    ]
    if findings:
        paragraphs.append("The research team's brief points to a few facts worth building on:")
        paragraphs.append("\n".join(f"- {f}" for f in findings))
    else:
        paragraphs.append(
            f"No research brief came with this task, so the points below are general practice for {keyword}. "
            "Check them against your own data before you publish."
        )
    paragraphs += [
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
    return "\n\n".join(paragraphs)


def _article_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    text = output.text.replace(OFFLINE_NOTICE, "").strip()
    title = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    meta = _META.search(text)
    words = len(re.findall(r"\w+", text))
    return [
        ArtifactDraft(
            kind="article",
            title=title.group(1).strip() if title else "Article",
            content=output.text,
            metadata={"word_count": str(words), "meta_description": meta.group(1).strip() if meta else ""},
        )
    ]


# --- SEO analyst -------------------------------------------------------------------------------------------


def _plan_seo(messages: Sequence[BaseMessage], tools: set[str]) -> list[tuple[str, dict[str, Any]]]:
    brief = brief_from_messages(messages)
    articles = brief.of_kind("article")
    if not articles:
        return []
    keywords = target_keywords(brief.task, 2)
    return [("analyze_article_seo", {"artifact_id": articles[-1]["id"], "keywords": keywords})]


def _render_seo(messages: Sequence[BaseMessage]) -> str:
    reports = [value for name, value in tool_results(messages) if name == "analyze_article_seo" and value]
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


def _seo_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    reports = output.results_of("analyze_article_seo")
    if not reports:
        return []
    report = reports[-1]
    densities = ", ".join(f"{d['keyword']} {d['density_percent']}%" for d in report["keyword_densities"])
    table = "\n".join(
        [
            "| figure | value |",
            "| --- | --- |",
            f"| score | {report['score']}/100 |",
            f"| words | {report['word_count']} |",
            f"| Flesch reading ease | {report['flesch_reading_ease']} |",
            f"| Flesch-Kincaid grade | {report['flesch_kincaid_grade']} |",
            f"| title length | {report['title_length']} |",
            f"| meta description length | {report['meta_description_length']} |",
            f"| keyword density | {densities or 'n/a'} |",
            f"| headings | {len(report['headings'])} |",
        ]
    )
    suggestions = report.get("keyword_suggestions") or []
    if suggestions:
        rows = [f"| {k['keyword']} | {k['research_count']} | {k['article_count']} |" for k in suggestions]
        table += (
            "\n\n## Suggested keywords from the research\n\n| keyword | in research | in article |\n"
            "| --- | --- | --- |\n" + "\n".join(rows)
        )
    return [
        ArtifactDraft(
            kind="seo_report",
            title=f"SEO report for {report['artifact_id']}: {report['score']}/100",
            content=f"{table}\n\n{output.text}",
            metadata={
                "article_id": report["artifact_id"],
                "score": str(report["score"]),
                "flesch_reading_ease": str(report["flesch_reading_ease"]),
                "word_count": str(report["word_count"]),
                "issues": str(len(report["issues"])),
                "keyword_suggestions": ", ".join(k["keyword"] for k in suggestions),
            },
        )
    ]


# --- illustrator -------------------------------------------------------------------------------------------


def _image_subject(messages: Sequence[BaseMessage]) -> str:
    """What the image is about: the article's title, else the task's topic (never research text)."""
    brief = brief_from_messages(messages)
    articles = brief.of_kind("article")
    if articles and articles[-1]["title"].strip():
        return articles[-1]["title"]
    return topic_title(brief.task, 4) or clip(brief.task, MAX_SUBJECT_CHARS) or "Marketing article"


def _plan_image(messages: Sequence[BaseMessage], tools: set[str]) -> list[tuple[str, dict[str, Any]]]:
    subject = clean_subject(_image_subject(messages))
    if len(subject) < 3:
        subject = f"{subject} for marketing teams"
    return [("generate_image", {"subject": subject, "orientation": "landscape"})]


def _render_image(messages: Sequence[BaseMessage]) -> str:
    results = [value for name, value in tool_results(messages) if name == "generate_image"]
    if results and isinstance(results[-1], dict):
        image = results[-1]
        revised = f"\n\nRevised prompt: {image['revised_prompt']}" if image.get("revised_prompt") else ""
        return f"Generated a {image['size']} image with {image['model']}.\n\nAlt text: {image['alt_text']}{revised}"
    reason = OFF_NOTICE
    if results:
        reason = f"Image generation failed ({clip(str(results[-1]), 300)}), so here is a brief instead."
    return image_brief(_image_subject(messages), reason)


def _image_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    images = output.results_of("generate_image")
    if images:
        image = images[-1]
        return [
            ArtifactDraft(
                kind="image",
                title=f"Image: {image['subject']}",
                content=image["alt_text"],
                mime_type="image/png",
                data=base64.b64decode(image["image_b64"]),
                metadata={
                    "model": image["model"],
                    "size": image["size"],
                    "revised_prompt": image["revised_prompt"],
                    "alt_text": image["alt_text"],
                },
            )
        ]
    failed = [r.error for r in output.tool_results if r.name == "generate_image" and r.error]
    title = re.search(r"^#\s+(.+)$", output.text, re.MULTILINE)
    return [
        ArtifactDraft(
            kind="image_brief",
            title=title.group(1).strip() if title else "Image brief",
            content=output.text,
            metadata={"images": "failed" if failed else "off", "how_to_enable": HOW_TO_ENABLE}
            | ({"error": clip(failed[-1], 300)} if failed else {}),
        )
    ]


def content_team(images: ImageGenerator | None = None) -> TeamDefinition:
    """The content team; ``images`` defaults to image generation off."""
    images = images or ImageGenerator("", None)
    tools = content_tools(images)
    writer = Worker(
        name="writer",
        description="writes a markdown article (title, meta description, headings) from the task and research",
        instructions=(
            "You are the content team's writer. Write one markdown article for the task: a single '# ' title "
            "of 30-60 characters, a line 'Meta description: ...' of 120-160 characters, at least three '## ' "
            "sections and a conclusion with a call to action, 600-900 words. Use the research brief's findings "
            "and keep their [n] citations. Answer with the article only."
        ),
        tools=(),
        offline=TemplateBehaviour(_render_article),
        build_artifacts=_article_artifacts,
    )
    seo_analyst = Worker(
        name="seo_analyst",
        description="analyses the article's SEO (keyword density, readability, title, meta, headings)",
        instructions=(
            "You are the content team's SEO analyst. Call analyze_article_seo with the article's artifact id "
            "and the task's two or three target keywords, then answer with the score and a short list of "
            "concrete recommendations under '## Recommendations'."
        ),
        tools=tools.tools_for("seo_analyst", "analyze_article_seo"),
        offline=TemplateBehaviour(_render_seo, _plan_seo),
        build_artifacts=_seo_artifacts,
    )
    if images.configured:
        illustrator_instructions = (
            "You are the content team's illustrator. Call generate_image once with the article's title as the "
            "subject (or the task's topic when there is no article); never pass text from research or web "
            "pages. Then answer with one line saying what was generated and the alt text."
        )
    else:
        illustrator_instructions = (
            f"You are the content team's illustrator. {OFF_NOTICE} Write an image brief in markdown: a "
            "'# Image brief: <article title>' heading, a line saying image generation is off, then Prompt, "
            "Alt text, Composition, Palette and Sizes (X 1600x900, LinkedIn 1200x627). Base the prompt on the "
            "article's title or the task's topic only, never on research text."
        )
    illustrator = Worker(
        name="illustrator",
        description="illustrates the article: generates an image, or writes an image brief when images are off",
        instructions=illustrator_instructions,
        tools=tools.tools_for("illustrator", "generate_image"),
        offline=TemplateBehaviour(_render_image, _plan_image),
        build_artifacts=_image_artifacts,
        keywords=() if images.configured else IMAGE_KEYWORDS,
    )
    return TeamDefinition(
        name=TEAM,
        workers=(writer, seo_analyst, illustrator),
        finish_when="once the article is written and analysed (and illustrated when images are on or the "
        "task asks for visuals)",
        tools=tools,
    )
