"""The email team's artifacts."""

from __future__ import annotations

from common.agents.worker import ArtifactDraft, WorkerOutput


def email_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    """The sequence as one article artifact (a real team would add its own ArtifactKind to team.proto)."""
    emails = output.text.count("## Email")
    return [
        ArtifactDraft(
            kind="article", title="Email sequence", content=output.text, metadata={"emails": str(emails)}
        )
    ]
