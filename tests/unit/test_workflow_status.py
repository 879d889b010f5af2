"""Workflow status, summary and warnings from the supervisor's final state."""

from __future__ import annotations

from typing import Any

from marketing.supervisor.v1 import supervisor_pb2

from common.llm.usage import EMPTY_USAGE
from supervisor_service.views import workflow_status, workflow_summary, workflow_warnings


def run(team: str, status: str, error: str = "", code: str = "", warnings: list[str] | None = None) -> dict:
    return {
        "team": team, "status": status, "summary": f"{team} done", "error": error, "error_code": code,
        "attempts": 1, "steps": [], "duration_ms": 1, "usage": EMPTY_USAGE, "warnings": warnings or [],
    }  # fmt: skip


def state(*runs: dict, fallbacks: int = 0) -> dict[str, Any]:
    steps = [{"decision_source": "keyword_fallback"}] * fallbacks + [{"decision_source": "model"}]
    return {"team_runs": list(runs), "routing_steps": steps, "artifacts": []}


def test_no_runs_is_failed() -> None:
    s = state()
    assert workflow_status(s) == supervisor_pb2.WORKFLOW_STATUS_FAILED
    assert "no team was called" in workflow_summary(workflow_status(s), s)


def test_all_succeeded_is_completed() -> None:
    s = state(run("research", "succeeded"), run("content", "succeeded"))
    assert workflow_status(s) == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
    assert workflow_warnings(s) == []


def test_a_failed_team_makes_it_partial_and_is_named() -> None:
    s = state(run("research", "succeeded"), run("social", "failed", "connection refused", "UNAVAILABLE"))
    assert workflow_status(s) == supervisor_pb2.WORKFLOW_STATUS_PARTIAL
    summary = workflow_summary(workflow_status(s), s)
    assert "social (UNAVAILABLE: connection refused)" in summary
    assert any("social" in w and "UNAVAILABLE" in w for w in workflow_warnings(s))


def test_circuit_open_counts_as_not_answered() -> None:
    s = state(run("research", "succeeded"), run("social", "circuit_open", "open", "UNAVAILABLE"))
    assert workflow_status(s) == supervisor_pb2.WORKFLOW_STATUS_PARTIAL
    assert workflow_status(state(run("social", "circuit_open"))) == supervisor_pb2.WORKFLOW_STATUS_FAILED


def test_all_failed_is_failed() -> None:
    s = state(run("research", "failed", code="INTERNAL"), run("content", "circuit_open"))
    assert workflow_status(s) == supervisor_pb2.WORKFLOW_STATUS_FAILED


def test_degraded_team_makes_the_workflow_degraded() -> None:
    s = state(
        run("research", "succeeded"), run("content", "degraded", warnings=["content/writer failed: down"])
    )
    assert workflow_status(s) == supervisor_pb2.WORKFLOW_STATUS_DEGRADED
    assert workflow_warnings(s) == ["content/writer failed: down"]
    assert "degraded: content" in workflow_summary(workflow_status(s), s)


def test_supervisor_keyword_fallback_makes_it_degraded() -> None:
    s = state(run("research", "succeeded"), fallbacks=2)
    assert workflow_status(s) == supervisor_pb2.WORKFLOW_STATUS_DEGRADED
    assert workflow_warnings(s) == ["the supervisor fell back to keyword routing for 2 decision(s)"]


def test_partial_wins_over_degraded() -> None:
    s = state(run("research", "degraded", warnings=["x"]), run("social", "failed", code="UNAVAILABLE"))
    assert workflow_status(s) == supervisor_pb2.WORKFLOW_STATUS_PARTIAL
