"""The prompt a worker receives: the task, its instructions and the artifacts so far, as tagged, escaped data.

This is the message-nesting fix: an agent sees curated artifacts (clipped to a bounded size), never the message
history of other agents. ``parse_brief`` reads the same format back (tests use it to inspect what a model saw;
the offline model reads the worker's scope instead, ``common.agents.scope``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from common.agents.state import ArtifactData
from common.text import clip

MAX_ARTIFACT_CHARS = 6000
MAX_ARTIFACTS = 20

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

    def of_kind(self, kind: str) -> list[dict[str, str]]:
        """Artifacts of one kind, in order."""
        return [a for a in self.artifacts if a["kind"] == kind]


def _esc(text: str, quote: bool = False) -> str:
    return html.escape(text, quote=quote)


def _clip_block(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_brief(task: str, instructions: str, artifacts: Sequence[ArtifactData]) -> str:
    """The user message of a worker's prompt.

    Args:
        task: The original task.
        instructions: Why this team or worker was chosen.
        artifacts: Upstream and same-team artifacts; the most recent ``MAX_ARTIFACTS`` are kept, each clipped.
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
    return ParsedBrief(html.unescape(task.group(1)), html.unescape(instructions.group(1)), artifacts)
