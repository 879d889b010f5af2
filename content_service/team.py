"""The content team: a team lead routing among an article writer, an SEO analyst and an illustrator."""

from __future__ import annotations

from common.agents.review_gate import ReviewGate, ReviewStage
from common.agents.team_graph import TeamDefinition
from common.agents.worker import Worker
from content_service import offline
from content_service.artifacts import article_artifacts, image_artifacts, seo_artifacts
from content_service.images import OFF_NOTICE, ImageGenerator
from content_service.tools import content_tools

TEAM = "content"
IMAGE_KEYWORDS = ("image", "illustration", "illustrate", "visual", "picture", "photo", "banner", "graphic")
"""Task words that bring in the illustrator when image generation is off (with images on it always runs)."""

WRITER_INSTRUCTIONS = (
    "You are the content team's writer. Write one markdown article for the task: a single '# ' title "
    "of 30-60 characters, a line 'Meta description: ...' of 120-160 characters, at least three '## ' "
    "sections and a conclusion with a call to action, 600-900 words. Use the research brief's findings "
    "and keep their [n] citations. Answer with the article only."
)
SEO_ANALYST_INSTRUCTIONS = (
    "You are the content team's SEO analyst. Call analyze_article_seo with the article's artifact id "
    "and the task's two or three target keywords, then answer with the score and a short list of "
    "concrete recommendations under '## Recommendations'."
)
ILLUSTRATOR_INSTRUCTIONS = (
    "You are the content team's illustrator. Call generate_image once with the article's title as the "
    "subject (or the task's topic when there is no article); never pass text from research or web "
    "pages. Then answer with one line saying what was generated and the alt text."
)
"""The illustrator's prompt when image generation is on."""
IMAGE_BRIEF_INSTRUCTIONS = (
    f"You are the content team's illustrator. {OFF_NOTICE} Write an image brief in markdown: a "
    "'# Image brief: <article title>' heading, a line saying image generation is off, then Prompt, "
    "Alt text, Composition, Palette and Sizes (X 1600x900, LinkedIn 1200x627). Base the prompt on the "
    "article's title or the task's topic only, never on research text."
)
"""The illustrator's prompt when image generation is off."""


def content_team(images: ImageGenerator | None = None) -> TeamDefinition:
    """The content team; ``images`` defaults to image generation off."""
    images = images or ImageGenerator("", None)
    tools = content_tools(images, TEAM)
    writer = Worker(
        name="writer",
        description="writes a markdown article (title, meta description, headings) from the task and research",
        instructions=WRITER_INSTRUCTIONS,
        tools=(),
        offline=offline.WRITER,
        build_artifacts=article_artifacts,
    )
    seo_analyst = Worker(
        name="seo_analyst",
        description="analyses the article's SEO (keyword density, readability, title, meta, headings)",
        instructions=SEO_ANALYST_INSTRUCTIONS,
        tools=tools.tools_for("seo_analyst", "analyze_article_seo"),
        offline=offline.SEO_ANALYST,
        build_artifacts=seo_artifacts,
    )
    illustrator = Worker(
        name="illustrator",
        description="illustrates the article: generates an image, or writes an image brief when images are off",
        instructions=ILLUSTRATOR_INSTRUCTIONS if images.configured else IMAGE_BRIEF_INSTRUCTIONS,
        tools=tools.tools_for("illustrator", "generate_image"),
        offline=offline.ILLUSTRATOR,
        build_artifacts=image_artifacts,
        keywords=() if images.configured else IMAGE_KEYWORDS,
    )
    return TeamDefinition(
        name=TEAM,
        workers=(writer, seo_analyst, illustrator),
        finish_when="once the article is written and analysed (and illustrated when images are on or the "
        "task asks for visuals)",
        tools=tools,
        # Under APPROVAL_POLICY_BEFORE_CONTENT_LEAVES a person approves the article before other teams see it.
        review=ReviewGate(stage=ReviewStage.CONTENT, artifact_kinds=("article",)),
    )
