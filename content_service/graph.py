"""The content team: a team lead routing between an article writer and an SEO analyst."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from common.agents.brief import ParsedBrief, brief_from_messages
from common.agents.team_graph import TeamDefinition
from common.agents.worker import ArtifactDraft, Worker, WorkerOutput, find_artifact
from common.llm.offline import OFFLINE_NOTICE, TemplateBehaviour, tool_results
from common.text import clip, extract_keywords, topic_terms, topic_title
from content_service.seo import analyze_seo

TEAM = "content"
_META = re.compile(r"^\W*meta description\W*:\W*(.+?)\W*$", re.IGNORECASE | re.MULTILINE)
_BULLET_WITH_CITATION = re.compile(r"^- (.+?\[\d+\])\s*$", re.MULTILINE)


class AnalyzeArticleArgs(BaseModel):
    """Arguments of ``analyze_article_seo``."""

    artifact_id: str = Field(min_length=1, max_length=128, description="Id of the article artifact")
    keywords: list[str] = Field(default_factory=list, max_length=10, description="Target keywords or phrases")


def content_tools() -> tuple[BaseTool]:
    """The team's tools."""

    async def analyze_article(artifact_id: str, keywords: list[str] | None = None) -> dict[str, Any]:
        article = find_artifact(artifact_id)
        return analyze_seo(article["content"], keywords or ()).to_dict() | {"artifact_id": artifact_id}

    return (
        StructuredTool.from_function(
            coroutine=analyze_article,
            name="analyze_article_seo",
            description="Compute SEO figures for an article artifact: keyword density, readability, lengths, "
            "heading structure, issues and a 0-100 score.",
            args_schema=AnalyzeArticleArgs,
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
    advice = [f"- {issue}" for issue in report["issues"]] or ["- No issues found: publish as is."]
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
            },
        )
    ]


def content_team() -> TeamDefinition:
    """The content team."""
    (seo_tool,) = content_tools()
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
        tools=(seo_tool,),
        offline=TemplateBehaviour(_render_seo, _plan_seo),
        build_artifacts=_seo_artifacts,
    )
    return TeamDefinition(
        name=TEAM,
        workers=(writer, seo_analyst),
        finish_when="once the article is written and analysed",
    )
