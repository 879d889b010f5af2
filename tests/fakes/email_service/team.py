"""The email team: a team lead and one worker that drafts an email sequence."""

from __future__ import annotations

from common.agents.team_graph import TeamDefinition
from common.agents.worker import Worker
from tests.fakes.email_service.artifacts import email_artifacts
from tests.fakes.email_service.offline import write_sequence

TEAM = "email"


def email_team() -> TeamDefinition:
    """The email team's definition."""
    writer = Worker(
        name="sequence_writer",
        description="writes a short onboarding email sequence from the task and the article, if any",
        instructions="You are the email team's writer. Write three short onboarding emails in markdown.",
        tools=(),
        offline=write_sequence,
        build_artifacts=email_artifacts,
    )
    return TeamDefinition(name=TEAM, workers=(writer,), finish_when="once the sequence is written")
