"""The prompt a worker receives: the task, its instructions and the artifacts so far, as tagged, escaped data.

This is the message-nesting fix: an agent sees curated artifacts (clipped to a bounded size), never the message
history of other agents. ``parse_brief`` reads the same format back (tests use it to inspect what a model saw;
the offline model reads the worker's scope instead, ``common.agents.scope``). When the tenant's profile has a brand,
a ``<brand>`` section carries it (voice, audience, banned phrases, required disclosures, default hashtags) as data.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from common.agents.profile import Brand, Profile, brand_of
from common.agents.state import ArtifactData
from common.text import clip

MAX_ARTIFACT_CHARS = 6000
MAX_ARTIFACTS = 20
MAX_BRAND_CHARS = 4000
"""The ``<brand>`` section's data is clipped to this many characters."""
BRAND_GUIDANCE = (
    "The tenant's brand, as data: write in its voice for its audience, never use a banned phrase, carry every "
    "required disclosure in public text, and add the default hashtags to social posts."
)

_ARTIFACT = re.compile(
    r'<artifact id="(?P<id>[^"]*)" team="(?P<team>[^"]*)" agent="(?P<agent>[^"]*)" kind="(?P<kind>[^"]*)" '
    r'title="(?P<title>[^"]*)">\n(?P<content>.*?)\n</artifact>',
    re.DOTALL,
)


@dataclass(frozen=True)
class ParsedBrief:
    """A brief read back from a prompt."""

    task: str
    instructions: str
    artifacts: list[dict[str, str]] = field(default_factory=list)
    brand: str = ""

    def of_kind(self, kind: str) -> list[dict[str, str]]:
        """Artifacts of one kind, in order."""
        return [a for a in self.artifacts if a["kind"] == kind]


def _esc(text: str, quote: bool = False) -> str:
    return html.escape(text, quote=quote)


def _clip_block(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _brand_lines(brand: Brand) -> list[str]:
    lines = [f"voice: {_one_line(brand.voice)}"] if brand.voice else []
    lines += [f"audience: {_one_line(brand.audience)}"] if brand.audience else []
    for label, items in (
        ("banned_phrases", brand.banned_phrases),
        ("required_disclosures", brand.required_disclosures),
        ("default_hashtags", brand.default_hashtags),
    ):
        if items:
            lines += [f"{label}:", *(f"- {_one_line(item)}" for item in items)]
    return lines


def render_brand(profile: Profile | None) -> str:
    """The ``<brand>`` section of a tenant's profile ("" when the profile has no brand field)."""
    brand = brand_of(profile)
    if brand.is_empty:
        return ""
    data = _clip_block("\n".join(_brand_lines(brand)), MAX_BRAND_CHARS)
    return f"<brand>\n{BRAND_GUIDANCE}\n{_esc(data)}\n</brand>\n"


def render_brief(
    task: str, instructions: str, artifacts: Sequence[ArtifactData], profile: Profile | None = None
) -> str:
    """The user message of a worker's prompt.

    Args:
        task: The original task.
        instructions: Why this team or worker was chosen.
        artifacts: Upstream and same-team artifacts; the most recent ``MAX_ARTIFACTS`` are kept, each clipped.
        profile: The tenant's profile (``WorkScope.profile``); its brand, when it has one, becomes a ``<brand>``
            section.
    """
    blocks = []
    for artifact in list(artifacts)[-MAX_ARTIFACTS:]:
        blocks.append(
            f'<artifact id="{_esc(artifact["id"], True)}" team="{_esc(artifact["team"], True)}" '
            f'agent="{_esc(artifact["agent"], True)}" kind="{_esc(artifact["kind"], True)}" '
            f'title="{_esc(clip(artifact["title"], 200), True)}">\n'
            f"{_esc(_clip_block(artifact['content'], MAX_ARTIFACT_CHARS))}\n</artifact>"
        )
    return (
        f"<task>\n{_esc(task)}\n</task>\n"
        f"<instructions>\n{_esc(instructions or '(none)')}\n</instructions>\n"
        f"{render_brand(profile)}"
        f"<artifacts>\n{chr(10).join(blocks) or '(none yet)'}\n</artifacts>"
    )


def parse_brief(text: str) -> ParsedBrief | None:
    """Inverse of ``render_brief``; None when the text is not a brief."""
    task = re.search(r"<task>\n(.*?)\n</task>", text, re.DOTALL)
    instructions = re.search(r"<instructions>\n(.*?)\n</instructions>", text, re.DOTALL)
    if not task or not instructions:
        return None
    artifacts = [
        {key: html.unescape(value) for key, value in match.groupdict().items()}
        for match in _ARTIFACT.finditer(text)
    ]
    brand = re.search(r"<brand>\n(.*?)\n</brand>", text, re.DOTALL)
    return ParsedBrief(
        html.unescape(task.group(1)),
        html.unescape(instructions.group(1)),
        artifacts,
        html.unescape(brand.group(1)).removeprefix(BRAND_GUIDANCE + "\n") if brand else "",
    )
