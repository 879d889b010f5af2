"""The content team's artifacts, built from each worker's output: an article, an SEO report, an image or brief."""

from __future__ import annotations

import base64
import re
from typing import Any

from common.agents.worker import ArtifactDraft, WorkerOutput
from common.llm.offline import OFFLINE_NOTICE
from common.text import clip
from content_service.images import HOW_TO_ENABLE

_TITLE = re.compile(r"^#\s+(.+)$", re.MULTILINE)
_META = re.compile(r"^\W*meta description\W*:\W*(.+?)\W*$", re.IGNORECASE | re.MULTILINE)


def article_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    """The writer's article, with its word count and meta description."""
    text = output.text.replace(OFFLINE_NOTICE, "").strip()
    title = _TITLE.search(text)
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


def _figures_table(report: dict[str, Any]) -> str:
    densities = ", ".join(f"{d['keyword']} {d['density_percent']}%" for d in report["keyword_densities"])
    return "\n".join(
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


def _suggestions_table(suggestions: list[dict[str, Any]]) -> str:
    rows = [f"| {k['keyword']} | {k['research_count']} | {k['article_count']} |" for k in suggestions]
    return (
        "\n\n## Suggested keywords from the research\n\n| keyword | in research | in article |\n"
        "| --- | --- | --- |\n" + "\n".join(rows)
    )


def seo_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    """The SEO analyst's report: the latest analysis's figures and suggested keywords, then its advice."""
    reports = output.results_of("analyze_article_seo")
    if not reports:
        return []
    report = reports[-1]
    suggestions = report.get("keyword_suggestions") or []
    table = _figures_table(report) + (_suggestions_table(suggestions) if suggestions else "")
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


def image_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    """The illustrator's generated PNG, else its image brief (saying whether images are off or failed)."""
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
    title = _TITLE.search(output.text)
    return [
        ArtifactDraft(
            kind="image_brief",
            title=title.group(1).strip() if title else "Image brief",
            content=output.text,
            metadata={"images": "failed" if failed else "off", "how_to_enable": HOW_TO_ENABLE}
            | ({"error": clip(failed[-1], 300)} if failed else {}),
        )
    ]
