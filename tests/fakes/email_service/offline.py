"""The email team under the offline model: a template filled from the task and the upstream article."""

from __future__ import annotations

from common.agents.offline_work import OfflineWork, TemplateBehaviour


def render_sequence(work: OfflineWork) -> str:
    """Three onboarding emails that point to the upstream article when there is one."""
    articles = work.of_kind("article")
    link = f" Read our guide: {articles[-1]['title']}." if articles else ""
    return "\n\n".join(
        [
            "# Email sequence",
            f"## Email 1: Welcome\nThanks for signing up.{link}",
            "## Email 2: Your first week\nThree things to try first.",
            "## Email 3: Need a hand?\nReply to this email and we will help.",
        ]
    )


write_sequence = TemplateBehaviour(render_sequence)
