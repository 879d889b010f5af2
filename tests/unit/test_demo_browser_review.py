"""``make demo REVIEW=browser``: the demo waits (bounded) for the decision in the console, then for the workflow to
finish, and prints it; nobody deciding in time ends the demo with a clear message."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from marketing.supervisor.v1 import review_pb2, supervisor_pb2

from supervisor_service import demo

S = supervisor_pb2


class Reviews:
    def __init__(self, _: Any) -> None:
        pass

    def ListReviews(self, request: Any, timeout: float) -> Any:
        return SimpleNamespace(reviews=[review_pb2.Review(id="r1", workflow_id="w1")])


def tasks_answering(*statuses: int) -> type:
    answers = list(statuses)

    class Tasks:
        def __init__(self, _: Any) -> None:
            pass

        def GetWorkflow(self, request: Any, timeout: float) -> Any:
            status = answers.pop(0) if len(answers) > 1 else answers[0]
            return SimpleNamespace(workflow=S.Workflow(id=request.workflow_id, task="launch", status=status))

    return Tasks


def run(monkeypatch: pytest.MonkeyPatch, statuses: tuple[int, ...], decision_wait_s: float = 60) -> int:
    monkeypatch.setattr(demo.review_pb2_grpc, "ReviewServiceStub", Reviews)
    monkeypatch.setattr(demo.supervisor_pb2_grpc, "SupervisorServiceStub", tasks_answering(*statuses))
    return demo.wait_for_decision(None, "http://127.0.0.1:8080/console", decision_wait_s, 60, poll_s=0)  # type: ignore[arg-type]


def test_it_waits_for_the_decision_and_prints_the_completed_workflow(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    waiting, running = S.WORKFLOW_STATUS_AWAITING_REVIEW, S.WORKFLOW_STATUS_RUNNING
    code = run(monkeypatch, (waiting, waiting, running, waiting, running, S.WORKFLOW_STATUS_COMPLETED))
    out = capsys.readouterr().out
    assert code == 0
    assert "/console/reviews/r1" in out and "decided in the console" in out
    assert "another review round is open" in out  # sent back once: the second round is waited for too
    assert "w1" in out and "COMPLETED" in out  # the finished workflow is printed


def test_nobody_deciding_in_time_stops_the_demo_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(monkeypatch, (S.WORKFLOW_STATUS_AWAITING_REVIEW,), decision_wait_s=0)
    assert code == demo.cli.AWAITING_REVIEW_EXIT
    assert "nobody decided the review in time" in capsys.readouterr().out
