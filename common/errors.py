"""Errors shared by the services, and their mapping to gRPC status codes with rich details."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2


class ConfigError(RuntimeError):
    """The environment holds an invalid setting; raised at start-up."""


@dataclass(frozen=True)
class FieldViolation:
    """One invalid request field."""

    field: str
    description: str


class ServiceError(Exception):
    """An error a handler raises to answer with a specific gRPC status."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[any_pb2.Any]:
        """Rich error details (google.rpc.*) packed for the status trailer."""
        return []

    def to_status(self) -> status_pb2.Status:
        """The google.rpc.Status carried in the grpc-status-details-bin trailer."""
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        status.details.extend(self.details())
        return status


class InvalidArgument(ServiceError):
    """The request is malformed; carries a google.rpc.BadRequest naming each bad field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: Sequence[FieldViolation]) -> None:
        self.violations = list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(f"invalid request: {summary}")

    def details(self) -> list[any_pb2.Any]:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in self.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad_request)
        return [packed]


class NotFound(ServiceError):
    """The named resource does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(ServiceError):
    """The resource is not in a state that allows the operation."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class _WithReason(ServiceError):
    """An error whose google.rpc.ErrorInfo carries a machine-readable reason (domain ``marketing``)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

    def details(self) -> list[any_pb2.Any]:
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.ErrorInfo(reason=self.reason, domain="marketing"))
        return [packed]


class Unauthenticated(_WithReason):
    """The call carries no credential, or one that is invalid, expired or revoked."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(_WithReason):
    """The caller is known but lacks the scope (or the channel) the call needs."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Cancelled(ServiceError):
    """The operation was cancelled on request."""

    code = grpc.StatusCode.CANCELLED


class ResourceExhausted(ServiceError):
    """The server is at capacity; carries a google.rpc.RetryInfo."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def details(self) -> list[any_pb2.Any]:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(self.retry_after_s * 1000))
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        return [packed]


class DependencyUnavailable(ServiceError):
    """A store this call depends on (the quota counters) did not answer; nothing was done: try again."""

    code = grpc.StatusCode.UNAVAILABLE


class QuotaExceeded(ResourceExhausted):
    """A tenant quota or rate limit is reached; carries a google.rpc.QuotaFailure naming it, and a RetryInfo
    when waiting helps (``retry_after_s`` None: it does not, until an administrator raises the quota)."""

    def __init__(self, message: str, subject: str, quota: str, retry_after_s: float | None = None) -> None:
        super().__init__(message, retry_after_s or 0.0)
        self.subject = subject
        self.quota = quota
        self.waiting_helps = retry_after_s is not None

    def details(self) -> list[any_pb2.Any]:
        failure = error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(subject=self.subject, description=self.quota)
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(failure)
        return [packed, *(super().details() if self.waiting_helps else [])]


class BudgetExceededError(Exception):
    """A model call was not made: the task's budget or the tenant's monthly quota is reached (``common.budget``).
    Never retried, never sent to a backup provider, never turned into a keyword fallback."""

    def __init__(self, limit: str, detail: str, agent: str = "") -> None:
        super().__init__(f"budget exceeded ({limit}): {detail}")
        self.limit = limit
        self.detail = detail
        self.agent = agent


class TeamCallError(Exception):
    """A call to a team service failed; ``code`` is the gRPC status code name."""

    def __init__(self, team: str, code: str, message: str, attempts: int) -> None:
        super().__init__(f"{team} team call failed ({code}): {message}")
        self.team = team
        self.code = code
        self.message = message
        self.attempts = attempts


class CircuitOpenError(TeamCallError):
    """The team's circuit breaker is open, so it was not called."""

    def __init__(self, team: str) -> None:
        super().__init__(team, "UNAVAILABLE", f"circuit breaker for {team} is open; not calling it", 0)


class ModelOutputError(Exception):
    """A chat model answered with something the caller cannot use."""


class IncompleteAnswerError(Exception):
    """A model call did not deliver a whole answer: it ended without a finish reason, its connection dropped
    mid-answer, a chunk did not decode, or the provider reported an error inside the stream. A transient failure
    of that call: it is retried, then the backup provider gets it."""

    def __init__(self, reason: str, detail: str) -> None:
        """
        Args:
            reason: ``no_finish_reason``, ``dropped``, ``corrupt_chunk`` or ``stream_error``.
            detail: What happened, for logs and step errors.
        """
        super().__init__(f"incomplete answer ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


class AnswerCutOffError(Exception):
    """The model stopped before the end of its answer for a reason that is not a transport fault (its output token
    limit, a content filter): the answer is complete as far as the provider is concerned, but cut short, so it is
    not used. Not retried (the same request would be cut the same way) and not sent to the backup."""

    def __init__(self, finish_reason: str, model: str) -> None:
        super().__init__(
            f"the answer of {model or 'the model'} was cut off (finish reason {finish_reason!r}): "
            "it hit its output token limit or a filter, so it is not used"
        )
        self.finish_reason = finish_reason
        self.model = model
