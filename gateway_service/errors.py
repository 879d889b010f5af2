"""gRPC errors as HTTP problem details (RFC 9457): one body shape, the standard status mapping, no tracebacks."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

PROBLEM_TYPE = "application/problem+json"

HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
"""Statuses without an entry (UNKNOWN, INTERNAL, DATA_LOSS) are 502: the gateway itself did not fail."""

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    499: "Client Closed Request",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FieldViolationModel(BaseModel):
    """One bad field of the request."""

    field: str
    description: str


class Problem(BaseModel):
    """An RFC 9457 problem details body."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    grpc_code: str | None = Field(None, description="the supervisor's gRPC status code name")
    reason: str | None = Field(None, description="google.rpc.ErrorInfo reason, e.g. missing_scope")
    violations: list[FieldViolationModel] = Field(default_factory=list)
    retry_after_s: int | None = None
    quota_violations: list[dict[str, Any]] = Field(default_factory=list)


def problem_response(
    status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A problem details response."""
    body = Problem(title=_TITLES.get(status, "Error"), status=status, detail=detail, **extra)
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=headers, media_type=PROBLEM_TYPE
    )


def _details(error: grpc.aio.AioRpcError) -> dict[str, Any]:
    """The google.rpc details of an error: field violations, retry delay, quota violations, reason."""
    found: dict[str, Any] = {}
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found["violations"] = [
                FieldViolationModel(field=v.field, description=v.description) for v in bad.field_violations
            ]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            found["retry_after_s"] = max(1, round(retry.retry_delay.ToTimedelta().total_seconds()))
        elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            quota = error_details_pb2.QuotaFailure()
            detail.Unpack(quota)
            found["quota_violations"] = [MessageToDict(v) for v in quota.violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            found["reason"] = info.reason
    return found


def grpc_problem(error: grpc.aio.AioRpcError) -> JSONResponse:
    """The problem response for a gRPC error of the supervisor."""
    code = error.code()
    status = HTTP_STATUS.get(code, 502)
    try:
        found = _details(error)
    except Exception:  # a malformed status detail must not turn into a 500
        found = {}
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="marketing"'
    if status in (429, 503) and "retry_after_s" in found:
        headers["Retry-After"] = str(found["retry_after_s"])
    detail = error.details() or code.name
    if status == 502:
        detail = "the supervisor failed to answer"  # never relay an internal error's text
    return problem_response(status, detail, headers, grpc_code=code.name, **found)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": Problem,
        "description": _TITLES[status],
        "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status in (400, 401, 403, 404, 409, 413, 422, 429, 499, 501, 502, 503, 504)
}
"""The error responses every operation documents (problem details)."""
