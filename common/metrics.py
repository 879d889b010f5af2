"""Prometheus metrics: business, technical and cost figures, served at ``/metrics`` on each service's own port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from common.interceptors import RequestT, ResponseT, rewrap_handler
from common.logging import get_logger

log = get_logger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

# Business.
TASKS = Counter("marketing_tasks_total", "Workflows finished, by final status.", ["status"])
ARTIFACTS = Counter("marketing_artifacts_total", "Artifacts produced, by team and kind.", ["team", "kind"])
POSTS_SCHEDULED = Counter(
    "marketing_posts_scheduled_total", "Posts given a posting slot, by platform.", ["platform"]
)

# Technical.
RPC_HANDLED = Counter(
    "grpc_server_handled_total", "RPCs completed on the server.", ["grpc_service", "grpc_method", "grpc_code"]
)
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time to handle an RPC, to its last message.",
    ["grpc_service", "grpc_method", "grpc_code"],
    buckets=LATENCY_BUCKETS,
)
TEAM_CALLS = Counter(
    "marketing_team_calls_total", "Supervisor calls to teams, by outcome.", ["team", "status"]
)
TEAM_CALL_SECONDS = Histogram(
    "marketing_team_call_seconds",
    "Duration of a team call, retries included.",
    ["team"],
    buckets=LATENCY_BUCKETS,
)
MODEL_CALL_FAULTS = Counter(
    "marketing_model_call_faults_total",
    "Failed attempts of chat-model calls, by provider endpoint and fault (HTTP status, timeout, connection, "
    "no_finish_reason, dropped, corrupt_chunk, stream_error, breaker_open, ...).",
    ["provider", "fault"],
)
MODEL_ANSWERS_CUT_OFF = Counter(
    "marketing_model_answers_cut_off_total",
    "Answers a model cut short (finish reason length, max_tokens, content_filter), which are not used.",
    ["model", "finish_reason"],
)
MODEL_CALL_SECONDS = Histogram(
    "marketing_model_call_seconds", "Latency of chat-model calls.", ["model"], buckets=LATENCY_BUCKETS
)
BREAKER_STATE = Gauge(
    "marketing_breaker_state",
    "Circuit breaker state per team (external:<service> for external APIs, llm:<endpoint> for model providers): "
    "0 closed, 1 half-open, 2 open.",
    ["team"],
)
WORKFLOWS_IN_FLIGHT = Gauge("marketing_workflows_in_flight", "Workflows running on this supervisor.")
QUEUE_DEPTH = Gauge(
    "marketing_queue_depth",
    "Submitted tasks waiting for a replica (SubmitTask), by priority and tenant; KEDA scales on the broker's count.",
    ["priority", "tenant"],
)
QUEUE_DELIVERIES = Counter(
    "marketing_queue_deliveries_total",
    "Deliveries of submitted tasks, by outcome (finished, retried, dead_lettered, parked, duplicate).",
    ["outcome"],
)
BRIEFS_IN_FLIGHT = Gauge("marketing_briefs_in_flight", "Briefs running on this team service.", ["team"])

TOOL_CALLS = Counter(
    "marketing_tool_calls_total",
    "Tool calls made by worker agents, by tool and outcome (ok, error).",
    ["tool", "outcome"],
)
TOOL_SECONDS = Histogram(
    "marketing_tool_call_seconds",
    "Duration of tool calls, cache hits included.",
    ["tool"],
    buckets=LATENCY_BUCKETS,
)
EXTERNAL_REQUESTS = Counter(
    "marketing_external_requests_total",
    "HTTP requests to external APIs (retries included), by service and outcome (HTTP status, error, breaker_open).",
    ["service", "outcome"],
)
EXTERNAL_SECONDS = Histogram(
    "marketing_external_request_seconds",
    "Latency of external API requests.",
    ["service"],
    buckets=LATENCY_BUCKETS,
)
POSTS_PUBLISHED = Counter(
    "marketing_posts_published_total",
    "Scheduled posts handled by the publisher loop, by platform and outcome (published, dry_run, failed).",
    ["platform", "outcome"],
)

CACHE_LOOKUPS = Counter(
    "marketing_tool_cache_total", "Tool-result cache lookups, by tool and result.", ["tool", "result"]
)

# Cost.
MODEL_TOKENS = Counter(
    "marketing_model_tokens_total", "Model tokens, by model and direction.", ["model", "direction"]
)
COST_USD = Counter(
    "marketing_cost_usd_total", "Model cost in US dollars, by team (supervisor for routing).", ["team"]
)

# Budgets, quotas and rate limits (issue 16). The tenant label appears only on the operator's /metrics (never in an
# API a tenant can call); METRICS_TENANT_LABEL=false replaces it by "all" on deployments with many tenants.
TASK_SECONDS = Histogram(
    "marketing_task_seconds", "Duration of a workflow drive, start to finish.", buckets=LATENCY_BUCKETS
)
TENANT_COST_USD = Counter(
    "marketing_tenant_cost_usd_total", "Model cost of finished workflow drives, by tenant.", ["tenant"]
)
QUOTA_USAGE_RATIO = Gauge(
    "marketing_tenant_quota_usage_ratio",
    "Share of a tenant quota in use at its last admission check (1 = reached), by tenant and quota.",
    ["tenant", "quota"],
)
QUOTA_REJECTIONS = Counter(
    "marketing_quota_rejections_total", "Requests refused by a quota or a rate limit, by quota.", ["quota"]
)
BUDGET_STOPS = Counter(
    "marketing_budget_stops_total", "Runs stopped before a model call by a budget limit, by team and limit.",
    ["team", "limit"],
)  # fmt: skip

_BREAKER_VALUES = {"closed": 0, "half-open": 1, "open": 2}


def set_breaker_state(team: str, state: str) -> None:
    """Record a breaker's state."""
    BREAKER_STATE.labels(team=team).set(_BREAKER_VALUES.get(state, 0))


def record_model_call(
    team: str, model: str, input_tokens: int, output_tokens: int, latency_s: float, cost: float
) -> None:
    """Record one chat-model call's latency, tokens and cost."""
    MODEL_CALL_SECONDS.labels(model=model).observe(latency_s)
    MODEL_TOKENS.labels(model=model, direction="input").inc(input_tokens)
    MODEL_TOKENS.labels(model=model, direction="output").inc(output_tokens)
    COST_USD.labels(team=team).inc(cost)


def start_metrics_server(host: str, port: int) -> None:
    """Serve ``/metrics`` over HTTP on a background thread."""
    start_http_server(port, addr=host)
    log.info("metrics_server_started", port=port)


def _split(method: str) -> tuple[str, str]:
    _, service, name = method.split("/", 2) if method.count("/") >= 2 else ("", "unknown", method)
    return service, name


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts every RPC and observes its duration, labelled with its final status code."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[RequestT, ResponseT] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[RequestT, ResponseT] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        service, method = _split(handler_call_details.method)

        def unary(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            async def observed(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                started, cancelled = time.perf_counter(), False
                try:
                    return await behaviour(request, context)
                except asyncio.CancelledError:
                    cancelled = True
                    raise
                finally:
                    _observe(service, method, context, started, cancelled)

            return observed

        def stream(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            async def observed(
                request: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                started, cancelled = time.perf_counter(), False
                try:
                    async for response in behaviour(request, context):
                        yield response
                except (asyncio.CancelledError, GeneratorExit):
                    cancelled = True
                    raise
                finally:
                    _observe(service, method, context, started, cancelled)

            return observed

        return rewrap_handler(handler, unary, stream)


def _observe(
    service: str, method: str, context: grpc.aio.ServicerContext[Any, Any], started: float, cancelled: bool
) -> None:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        name = code.name
    else:
        name = "CANCELLED" if cancelled or context.cancelled() else "OK"
    RPC_HANDLED.labels(service, method, name).inc()
    RPC_SECONDS.labels(service, method, name).observe(time.perf_counter() - started)
