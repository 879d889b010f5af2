"""What a running worker works on, visible to its tools and to the offline model without parsing any prompt.

``run_worker`` sets the scope for the duration of a worker's run: the tenant the work is for and its profile, the
workflow, the task, why the team was chosen, and every artifact the worker can see (upstream ones first), as
structured records with their metadata.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from common.agents.state import ArtifactData


@dataclass(frozen=True)
class WorkScope:
    """The brief a worker is running on, as data.

    Attributes:
        workflow_id: The workflow the work belongs to ("" for a brief without one).
        task: The original task.
        instructions: Why the supervisor chose the team.
        artifacts: Every artifact the worker can see, upstream ones first.
        tenant_id: The tenant the work is for (the brief's, checked against the caller's); "" outside a team run.
        profile: The tenant's profile as plain data (``BriefData["profile"]``: ``TenantProfile`` field names,
            enum values by name); empty when the brief carries none.
        review_required: The team's work waits for a person's approval (posts are held until approved).
    """

    workflow_id: str = ""
    task: str = ""
    instructions: str = ""
    artifacts: tuple[ArtifactData, ...] = ()
    tenant_id: str = ""
    profile: Mapping[str, Any] = field(default_factory=dict)
    review_required: bool = False

    def of_kind(self, kind: str) -> list[ArtifactData]:
        """Artifacts of one kind, in order."""
        return [a for a in self.artifacts if a["kind"] == kind]


_SCOPE: ContextVar[WorkScope] = ContextVar("work_scope", default=WorkScope())  # noqa: B039 (frozen)


@contextmanager
def work_scope(scope: WorkScope) -> Iterator[WorkScope]:
    """Make a worker's brief visible to its tools and its offline behaviour (so a model passes an artifact id, not
    a whole article, and never gets to choose which workflow a tool acts for)."""
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


@contextmanager
def artifact_scope(
    artifacts: Sequence[ArtifactData], workflow_id: str = "", task: str = ""
) -> Iterator[WorkScope]:
    """``work_scope`` for a list of artifacts (tests and tools that need no task)."""
    with work_scope(WorkScope(workflow_id, task, "", tuple(artifacts))) as scope:
        yield scope


def current_scope() -> WorkScope:
    """The running worker's scope (an empty one outside a worker run)."""
    return _SCOPE.get()


def current_tenant_id() -> str:
    """The tenant the running worker works for ("" outside a worker run)."""
    return _SCOPE.get().tenant_id


def current_workflow_id() -> str:
    """The workflow the running worker works for ("" outside a worker run or for a brief without one)."""
    return _SCOPE.get().workflow_id


def artifacts_in_scope() -> tuple[ArtifactData, ...]:
    """Every artifact the running worker can see (upstream ones first)."""
    return _SCOPE.get().artifacts


def find_artifact(artifact_id: str) -> ArtifactData:
    """An artifact in the current worker's scope.

    Raises:
        ValueError: No artifact has that id (the model gets this message and may retry).
    """
    for artifact in _SCOPE.get().artifacts:
        if artifact["id"] == artifact_id:
            return artifact
    known = ", ".join(a["id"] for a in _SCOPE.get().artifacts) or "none"
    raise ValueError(f"no artifact with id {artifact_id!r}; known ids: {known}")


def metadata_list(artifact: ArtifactData, key: str) -> list[str]:
    """A list stored in an artifact's metadata as a JSON array of strings (``findings``, ``urls``); [] when absent
    or malformed."""
    raw = artifact.get("metadata", {}).get(key, "")
    try:
        value = json.loads(raw) if raw else []
    except json.JSONDecodeError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def list_metadata(values: Sequence[str]) -> str:
    """Encode a list for an artifact's metadata (the inverse of ``metadata_list``)."""
    return json.dumps(list(values), ensure_ascii=False)
