"""Request bodies of the REST API as Pydantic models, mirroring the protos field by field (snake_case names, the
proto enums' value names). ``tests/unit/test_gateway_models.py`` fails when a model and its message drift apart;
each body becomes its message with ``json_format.ParseDict``."""

from __future__ import annotations

from enum import Enum
from typing import Any

from google.protobuf.json_format import ParseDict
from google.protobuf.message import Message
from marketing.supervisor.v1 import review_pb2, supervisor_pb2
from marketing.team.v1 import team_pb2
from marketing.tenant.v1 import tenant_pb2
from pydantic import BaseModel, ConfigDict, Field


def _enum(name: str, descriptor: Any) -> Any:
    """A str Enum with a proto enum's value names."""
    return Enum(name, {value.name: value.name for value in descriptor.values}, type=str)


Priority = _enum("Priority", supervisor_pb2.DESCRIPTOR.enum_types_by_name["Priority"])
WorkflowStatus = _enum("WorkflowStatus", supervisor_pb2.DESCRIPTOR.enum_types_by_name["WorkflowStatus"])
ReviewStatus = _enum("ReviewStatus", review_pb2.DESCRIPTOR.enum_types_by_name["ReviewStatus"])
ApprovalPolicy = _enum("ApprovalPolicy", tenant_pb2.DESCRIPTOR.enum_types_by_name["ApprovalPolicy"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_proto(self, message: type[Message], **more: Any) -> Any:
        """The proto message of this body (unset fields left at their defaults)."""
        values = self.model_dump(mode="json", exclude_none=True)
        return ParseDict({**values, **more}, message())


class Budget(_Body):
    """marketing.team.v1.Budget: 0 means no limit of that kind."""

    max_cost_usd: float | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=0, le=2**62)
    max_model_calls: int | None = Field(None, ge=0, le=2**31 - 1)


class SubmitTaskBody(_Body):
    """marketing.supervisor.v1.SubmitTaskRequest."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "task": "Prepare LinkedIn and X posts about our open-source vector database",
                    "priority": "PRIORITY_HIGH",
                    "request_id": "campaign-2026-12-01",
                    "approval_policy": "APPROVAL_POLICY_BEFORE_PUBLISHING",
                }
            ]
        },
    )

    task: str = Field(..., max_length=20_000)
    priority: Priority | None = None  # type: ignore[valid-type]
    request_id: str | None = Field(None, max_length=1000)
    notify_url: str | None = Field(None, max_length=2000)
    budget: Budget | None = None
    approval_policy: ApprovalPolicy | None = None  # type: ignore[valid-type]


class ResumeWorkflowBody(_Body):
    """marketing.supervisor.v1.ResumeWorkflowRequest (``workflow_id`` comes from the path)."""

    budget: Budget | None = None


class ItemEdit(_Body):
    """marketing.supervisor.v1.ItemEdit."""

    artifact_id: str = Field(..., max_length=200)
    text: str = Field(..., max_length=100_000)


class ApproveReviewBody(_Body):
    """marketing.supervisor.v1.ApproveReviewRequest (``review_id`` comes from the path)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"edits": [{"artifact_id": "social-2", "text": "Our vector database is open source."}]}
            ]
        },
    )

    edits: list[ItemEdit] = Field(default_factory=list, max_length=1000)
    override_flags: bool = False


class RejectReviewBody(_Body):
    """marketing.supervisor.v1.RejectReviewRequest (``review_id`` comes from the path)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"comments": "Mention the Apache 2.0 licence"}]}
    )

    comments: str = Field(default="", max_length=20_000)
    final: bool = False


BODIES: dict[type[_Body], tuple[type[Message], frozenset[str]]] = {
    SubmitTaskBody: (supervisor_pb2.SubmitTaskRequest, frozenset()),
    ResumeWorkflowBody: (supervisor_pb2.ResumeWorkflowRequest, frozenset({"workflow_id"})),
    ApproveReviewBody: (review_pb2.ApproveReviewRequest, frozenset({"review_id"})),
    RejectReviewBody: (review_pb2.RejectReviewRequest, frozenset({"review_id"})),
    ItemEdit: (review_pb2.ItemEdit, frozenset()),
    Budget: (team_pb2.Budget, frozenset()),
}
"""Each body, its message and the message fields that come from the path instead."""
