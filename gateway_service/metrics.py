"""The gateway's Prometheus metrics: HTTP requests by method, route template and status, requests in flight, and
the gRPC calls it makes to the supervisor by method and code. Served at ``/metrics`` on the gateway's own metrics
port (``METRICS_PORT``, else ``GATEWAY_METRICS_PORT``, 9180: common/teams.py), like the services."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import grpc
from marketing.admin.v1 import admin_pb2
from marketing.supervisor.v1 import review_pb2, supervisor_pb2
from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.metrics import LATENCY_BUCKETS

T = TypeVar("T")

HTTP_REQUESTS = Counter(
    "http_server_requests_total",
    "HTTP requests answered by the gateway, by method, route template (never the raw path) and status code.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "http_server_request_duration_seconds",
    "Time to answer an HTTP request, to its last byte (a whole event stream for SSE), by method, route and status.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge("http_server_requests_in_flight", "HTTP requests the gateway is answering now.")
GRPC_CLIENT_HANDLED = Counter(
    "grpc_client_handled_total",
    "gRPC calls the gateway made to the supervisor, completed, by final status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_CLIENT_SECONDS = Histogram(
    "grpc_client_handling_seconds",
    "Duration of the gateway's gRPC calls to the supervisor, to the last message of a stream.",
    ["grpc_service", "grpc_method", "grpc_code"],
    buckets=LATENCY_BUCKETS,
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404 for an unknown path): never the path itself."""

SERVICE_NAMES = {
    "supervisor": supervisor_pb2.DESCRIPTOR.services_by_name["SupervisorService"].full_name,
    "review": review_pb2.DESCRIPTOR.services_by_name["ReviewService"].full_name,
    "admin": admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
}
"""``grpc_service`` labels, as the supervisor's own ``grpc_server_handled_total`` names them."""


def route_template(scope: Scope, root_path: str = "") -> str:
    """The matched route's path template (``/v1/workflows/{workflow_id}``) once the app handled ``scope``:
    a FastAPI route's path, ``<mount>/{path}`` for a mounted app (static files), whose path the router adds to
    ``root_path``, or the path of a plain route without parameters (``/openapi.json``); else ``unmatched``."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path.startswith("/"):
        return path
    mounted = str(scope.get("root_path", ""))
    if mounted != root_path and mounted.startswith(root_path):
        return f"{mounted[len(root_path) :]}/{{path}}"
    if "endpoint" in scope and not scope.get("path_params"):
        return str(scope["path"])  # a route with a fixed path matched it: one label value per route
    return UNMATCHED


class HttpMetrics:
    """ASGI middleware (outermost): counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # an exception before the response started: the server answers 500
        root_path = str(scope.get("root_path", ""))
        started = time.perf_counter()

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            HTTP_IN_FLIGHT.dec()
            method = scope["method"] if scope["method"] in METHODS else "other"
            labels = (method, route_template(scope, root_path), str(status))
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_SECONDS.labels(*labels).observe(time.perf_counter() - started)


def _observe(service: str, method: str, code: grpc.StatusCode, started: float) -> None:
    labels = (SERVICE_NAMES.get(service, service), method, code.name)
    GRPC_CLIENT_HANDLED.labels(*labels).inc()
    GRPC_CLIENT_SECONDS.labels(*labels).observe(time.perf_counter() - started)


async def observed_call(service: str, method: str, call: Awaitable[T]) -> T:
    """Await a unary call, counting it with its final code."""
    started, code = time.perf_counter(), grpc.StatusCode.OK
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        code = exc.code()
        raise
    except asyncio.CancelledError:
        code = grpc.StatusCode.CANCELLED
        raise
    finally:
        _observe(service, method, code, started)


async def observed_stream(service: str, method: str, call: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Iterate a server-streaming call, counting it with its final code when it ends (or is abandoned)."""
    started, code = time.perf_counter(), grpc.StatusCode.OK
    try:
        async for message in call:
            yield message
    except grpc.aio.AioRpcError as exc:
        code = exc.code()
        raise
    except (asyncio.CancelledError, GeneratorExit):
        code = grpc.StatusCode.CANCELLED
        raise
    finally:
        _observe(service, method, code, started)
