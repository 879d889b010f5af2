"""Reviews on the wire: ``marketing.team.v1`` review messages to and from the plain data a checkpoint stores."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from marketing.team.v1 import team_pb2

from common.agents.review_gate import Verdict

_VERDICTS: dict[Verdict, Any] = {
    Verdict.APPROVED: team_pb2.REVIEW_VERDICT_APPROVED,
    Verdict.CHANGES_REQUESTED: team_pb2.REVIEW_VERDICT_CHANGES_REQUESTED,
    Verdict.REJECTED: team_pb2.REVIEW_VERDICT_REJECTED,
}


def decision_to_data(decision: team_pb2.ReviewDecision) -> dict[str, Any]:
    """A reviewer's decision as the data the review gate resumes with.

    Raises:
        ValueError: The verdict is unspecified.
    """
    verdicts = {v: k for k, v in _VERDICTS.items()}
    if decision.verdict not in verdicts:
        raise ValueError("a review decision needs a verdict")
    return {
        "round": decision.round,
        "verdict": verdicts[decision.verdict].value,
        "approved_texts": dict(decision.approved_texts),
        "approved_digests": dict(decision.approved_digests),
        "comments": decision.comments,
        "item_comments": [
            {"artifact_id": c.artifact_id, "comment": c.comment} for c in decision.item_comments
        ],
        "reviewer": decision.reviewer,
        "review_id": decision.review_id,
    }


def verdict_to_proto(verdict: Verdict) -> Any:
    """The protobuf verdict."""
    return _VERDICTS[verdict]


def _item(data: Mapping[str, Any]) -> team_pb2.ReviewItem:
    kind = f"ARTIFACT_KIND_{str(data.get('kind', '')).upper()}"
    item = team_pb2.ReviewItem(
        artifact_id=data["artifact_id"],
        kind=kind if kind in team_pb2.ArtifactKind.keys() else "ARTIFACT_KIND_UNSPECIFIED",
        title=data.get("title", ""),
        text=data.get("text", ""),
        platform=data.get("platform", ""),
        agent=data.get("agent", ""),
        model=data.get("model", ""),
        max_length=int(data.get("max_length", 0)),
    )
    if data.get("scheduled_time"):
        item.scheduled_time.FromDatetime(datetime.fromisoformat(data["scheduled_time"]))
    return item


def review_request_from_data(data: Mapping[str, Any]) -> team_pb2.ReviewRequest:
    """The review gate's interrupt value as the team's "input required" message."""
    return team_pb2.ReviewRequest(round=int(data["round"]), items=[_item(i) for i in data.get("items", [])])
