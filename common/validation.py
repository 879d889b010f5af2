"""Request validation helpers: each returns the field violations it finds, so a handler reports all at once."""

from __future__ import annotations

import re

from common.errors import FieldViolation, InvalidArgument

MAX_TASK_CHARS = 20_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(field: str, value: str, *, max_chars: int, required: bool = True) -> list[FieldViolation]:
    """Violations of a free-text field: blank when required, too long, or holding control characters."""
    if required and not value.strip():
        return [FieldViolation(field, "must not be empty or only whitespace")]
    problems = []
    if len(value) > max_chars:
        problems.append(FieldViolation(field, f"must be at most {max_chars} characters (got {len(value)})"))
    if _CONTROL.search(value):
        problems.append(
            FieldViolation(
                field, "must not contain control characters (tab, newline and carriage return are allowed)"
            )
        )
    return problems


def check_range(field: str, value: int, low: int, high: int) -> list[FieldViolation]:
    """Violations of an integer field that must lie in [low, high]."""
    if not low <= value <= high:
        return [FieldViolation(field, f"must be between {low} and {high} (got {value})")]
    return []


def raise_if_invalid(violations: list[FieldViolation]) -> None:
    """Raise ``InvalidArgument`` carrying every violation, if there are any."""
    if violations:
        raise InvalidArgument(violations)
