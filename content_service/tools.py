"""The content team's tools: the local SEO analyser of article artifacts, and image generation."""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel, Field

from common.agents.scope import artifacts_in_scope, find_artifact
from common.llm.offline import OFFLINE_NOTICE
from common.tools.registry import ToolRegistry, ToolSpec
from content_service.images import (
    MAX_SUBJECT_CHARS,
    SERVICE,
    ImageGenerator,
    Orientation,
    alt_text,
    clean_subject,
)
from content_service.seo import analyze_seo

RESEARCH_KINDS = ("research_brief", "search_results", "web_pages")
"""Upstream artifacts whose text feeds the SEO keyword suggestions."""


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


async def analyze_article(artifact_id: str, keywords: list[str] | None = None) -> dict[str, Any]:
    """SEO figures of an article in scope, with keyword suggestions from the research in scope."""
    article = find_artifact(artifact_id)
    research = [
        a["content"].replace(OFFLINE_NOTICE, "") for a in artifacts_in_scope() if a["kind"] in RESEARCH_KINDS
    ]
    report = analyze_seo(article["content"], keywords or (), research_texts=research)
    return report.to_dict() | {"artifact_id": artifact_id}


def content_tools(images: ImageGenerator, team: str) -> ToolRegistry:
    """The team's tools: the local SEO analyser and image generation (configured when images are on).

    Args:
        images: The images API client (off when it has no API).
        team: The team's name, for the registry.
    """

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

    return ToolRegistry(team).add(
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
