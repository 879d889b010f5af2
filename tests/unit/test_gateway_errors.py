"""gRPC statuses map to HTTP problem details the standard way, with the rich details carried over."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from gateway_service.errors import grpc_problem


def error(code: grpc.StatusCode, message: str, *details: object) -> grpc.aio.AioRpcError:
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)  # type: ignore[arg-type]
        packed.append(holder)
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=packed)
    trailing = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details=message)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.FAILED_PRECONDITION, 409),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
        (grpc.StatusCode.INTERNAL, 502),
    ],
)
def test_status_codes(code: grpc.StatusCode, status: int) -> None:
    response = grpc_problem(error(code, "secret internals" if status == 502 else "why"))
    body = json.loads(bytes(response.body))
    assert response.status_code == status == body["status"]
    assert response.media_type == "application/problem+json"
    assert body["grpc_code"] == code.name
    assert "secret internals" not in json.dumps(body)


def test_invalid_argument_carries_the_field_violations() -> None:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="task", description="is required")
        ]
    )
    body = json.loads(bytes(grpc_problem(error(grpc.StatusCode.INVALID_ARGUMENT, "invalid", bad)).body))
    assert body["status"] == 400 and body["violations"] == [{"field": "task", "description": "is required"}]


def test_resource_exhausted_is_429_with_retry_after_and_the_quota() -> None:
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=41))
    quota = error_details_pb2.QuotaFailure(
        violations=[
            error_details_pb2.QuotaFailure.Violation(subject="tenant:acme", description="tasks_per_day")
        ]
    )
    response = grpc_problem(error(grpc.StatusCode.RESOURCE_EXHAUSTED, "quota used up", retry, quota))
    body = json.loads(bytes(response.body))
    assert response.status_code == 429 and response.headers["retry-after"] == "41"
    assert body["quota_violations"] == [{"subject": "tenant:acme", "description": "tasks_per_day"}]


def test_unauthenticated_is_401_with_a_challenge_and_the_reason() -> None:
    info = error_details_pb2.ErrorInfo(reason="token_expired", domain="marketing")
    response = grpc_problem(error(grpc.StatusCode.UNAUTHENTICATED, "expired", info))
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
    assert json.loads(bytes(response.body))["reason"] == "token_expired"


def test_the_gateway_refuses_auth_disabled_beyond_loopback() -> None:
    from common.errors import ConfigError
    from gateway_service.__main__ import check_gateway_bind
    from tests.conftest import test_settings

    check_gateway_bind(test_settings(auth_disabled=True, bind_host="127.0.0.1"))
    check_gateway_bind(test_settings(auth_disabled=False, bind_host="0.0.0.0"))
    with pytest.raises(ConfigError, match="AUTH_DISABLED"):
        check_gateway_bind(test_settings(auth_disabled=True, bind_host="0.0.0.0"))
