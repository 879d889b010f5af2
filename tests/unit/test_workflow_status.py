"""Unit tests for supervisor_service.servicer.workflow_status and workflow_summary."""

from __future__ import annotations

from typing import Any

from marketing.supervisor.v1 import supervisor_pb2

from supervisor_service.servicer import workflow_status, workflow_summary

COMPLETED = supervisor_pb2.WORKFLOW_STATUS_COMPLETED
PARTIAL = supervisor_pb2.WORKFLOW_STATUS_PARTIAL
FAILED = supervisor_pb2.WORKFLOW_STATUS_FAILED


def ok(team: str) -> dict[str, Any]:
    return {"team": team, "status": "succeeded", "summary": f"{team} done", "error": "", "error_code": ""}


def failed(team: str, code: str = "DEADLINE_EXCEEDED", error: str = "timed out") -> dict[str, Any]:
    return {"team": team, "status": "failed", "summary": "", "error": error, "error_code": code}


def circuit_open(team: str) -> dict[str, Any]:
    return {
        "team": team,
        "status": "circuit_open",
        "summary": "",
        "error": f"circuit breaker for {team} is open; not calling it",
        "error_code": "UNAVAILABLE",
    }


def test_statuses_are_distinct() -> None:
    assert len({COMPLETED, PARTIAL, FAILED}) == 3


def test_no_runs_is_failed() -> None:
    assert workflow_status([]) == FAILED
    summary = workflow_summary(FAILED, [], 0)
    assert summary.startswith("failed:")
    assert "no team was called" in summary


def test_all_succeeded_is_completed() -> None:
    runs = [ok("research"), ok("content"), ok("social")]
    assert workflow_status(runs) == COMPLETED
    summary = workflow_summary(COMPLETED, runs, 4)
    assert summary == "completed: 4 artifact(s) from research, content, social"


def test_one_failed_one_succeeded_is_partial() -> None:
    runs = [ok("research"), failed("content", "DEADLINE_EXCEEDED", "timed out")]
    assert workflow_status(runs) == PARTIAL
    summary = workflow_summary(PARTIAL, runs, 1)
    assert summary.startswith("partial: 1 artifact(s) from research")
    assert "failed: content (DEADLINE_EXCEEDED: timed out)" in summary
    assert "research (" not in summary
    assert "no team was called" not in summary


def test_all_failed_is_failed() -> None:
    runs = [failed("research", "UNAVAILABLE", "down"), failed("content", "INTERNAL", "boom")]
    assert workflow_status(runs) == FAILED
    summary = workflow_summary(FAILED, runs, 0)
    assert summary.startswith("failed: 0 artifact(s);")
    assert "research (UNAVAILABLE: down)" in summary
    assert "content (INTERNAL: boom)" in summary
    assert " from " not in summary


def test_circuit_open_counts_as_failed() -> None:
    assert workflow_status([circuit_open("social")]) == FAILED
    runs = [ok("research"), circuit_open("social")]
    assert workflow_status(runs) == PARTIAL
    summary = workflow_summary(PARTIAL, runs, 2)
    assert "social (UNAVAILABLE: circuit breaker for social is open" in summary


def test_failed_run_without_code_names_its_status() -> None:
    runs = [ok("research"), failed("content", code="", error="every worker failed: x")]
    summary = workflow_summary(workflow_status(runs), runs, 1)
    assert "content (failed: every worker failed: x)" in summary
