"""Unit tests for common.errors (rich gRPC status details) and common.validation."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from common.errors import (
    CircuitOpenError,
    FieldViolation,
    InvalidArgument,
    ResourceExhausted,
    ServiceError,
    TeamCallError,
)
from common.validation import MAX_TASK_CHARS, check_range, check_text, raise_if_invalid


def test_invalid_argument_packs_bad_request() -> None:
    error = InvalidArgument([FieldViolation("task", "must not be empty"), FieldViolation("limit", "too big")])
    status = error.to_status()
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] == 3
    assert status.message == "invalid request: task: must not be empty; limit: too big"
    assert len(status.details) == 1
    assert status.details[0].Is(error_details_pb2.BadRequest.DESCRIPTOR)
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("task", "must not be empty"),
        ("limit", "too big"),
    ]


@pytest.mark.parametrize(
    ("retry_after_s", "seconds", "nanos"), [(2.5, 2, 500_000_000), (1.0, 1, 0), (0.25, 0, 250_000_000)]
)
def test_resource_exhausted_packs_retry_info(retry_after_s: float, seconds: int, nanos: int) -> None:
    status = ResourceExhausted("too busy", retry_after_s=retry_after_s).to_status()
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0] == 8
    assert status.message == "too busy"
    [detail] = status.details
    assert detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR)
    assert not detail.Is(error_details_pb2.BadRequest.DESCRIPTOR)
    info = error_details_pb2.RetryInfo()
    detail.Unpack(info)
    assert (info.retry_delay.seconds, info.retry_delay.nanos) == (seconds, nanos)


def test_resource_exhausted_default_delay_is_one_second() -> None:
    info = error_details_pb2.RetryInfo()
    ResourceExhausted("busy").to_status().details[0].Unpack(info)
    assert info.retry_delay.ToMilliseconds() == 1000


def test_plain_service_error_is_internal_without_details() -> None:
    status = ServiceError("boom").to_status()
    assert status.code == grpc.StatusCode.INTERNAL.value[0] == 13
    assert status.message == "boom"
    assert len(status.details) == 0


def test_team_call_errors() -> None:
    error = TeamCallError("content", "DEADLINE_EXCEEDED", "too slow", 3)
    assert str(error) == "content team call failed (DEADLINE_EXCEEDED): too slow"
    assert (error.team, error.code, error.message, error.attempts) == (
        "content",
        "DEADLINE_EXCEEDED",
        "too slow",
        3,
    )
    opened = CircuitOpenError("social")
    assert isinstance(opened, TeamCallError)
    assert (opened.team, opened.code, opened.attempts) == ("social", "UNAVAILABLE", 0)
    assert "social" in opened.message


# --- check_text -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", " ", "  \n\t  "])
def test_check_text_rejects_blank(value: str) -> None:
    [violation] = check_text("task", value, max_chars=10)
    assert violation.field == "task"
    assert "empty" in violation.description


def test_check_text_blank_allowed_when_optional() -> None:
    assert check_text("note", "", max_chars=10, required=False) == []


def test_check_text_length_limit_is_inclusive() -> None:
    assert check_text("task", "a" * 10, max_chars=10) == []
    [violation] = check_text("task", "a" * 11, max_chars=10)
    assert violation.field == "task"
    assert "at most 10" in violation.description
    assert "got 11" in violation.description


def test_check_text_task_limit() -> None:
    assert check_text("task", "a" * MAX_TASK_CHARS, max_chars=MAX_TASK_CHARS) == []
    assert len(check_text("task", "a" * (MAX_TASK_CHARS + 1), max_chars=MAX_TASK_CHARS)) == 1


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x07", "\x0b", "\x0c", "\x7f"])
def test_check_text_rejects_control_characters(char: str) -> None:
    [violation] = check_text("task", f"hello{char}world", max_chars=100)
    assert "control characters" in violation.description


def test_check_text_accepts_newline_and_tab() -> None:
    assert check_text("task", "line one\nline two\tcolumn", max_chars=100) == []


def test_check_text_reports_length_and_control_together() -> None:
    violations = check_text("task", "\x00" + "a" * 20, max_chars=10)
    assert len(violations) == 2
    assert {v.field for v in violations} == {"task"}


# --- check_range / raise_if_invalid -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"), [(0, False), (1, True), (5, True), (10, True), (11, False), (-3, False)]
)
def test_check_range_bounds_are_inclusive(value: int, ok: bool) -> None:
    violations = check_range("limit", value, 1, 10)
    assert (violations == []) is ok
    if not ok:
        assert violations == [FieldViolation("limit", f"must be between 1 and 10 (got {value})")]


def test_raise_if_invalid_carries_every_violation() -> None:
    raise_if_invalid([])  # no violation: no error
    violations = check_text("task", "", max_chars=10) + check_range("limit", 0, 1, 10)
    with pytest.raises(InvalidArgument) as info:
        raise_if_invalid(violations)
    assert [v.field for v in info.value.violations] == ["task", "limit"]
