"""The gateway's Prometheus metrics: requests by method, route template and status, in flight, and its gRPC calls to
the supervisor by method and code (the gateway in this process, so the default registry holds its metrics)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from common.config import load_settings
from common.launcher import DEFAULT_GATEWAY_METRICS_PORT, DEFAULT_METRICS_PORTS
from gateway_service.__main__ import gateway_metrics_port
from tests.conftest import authenticated_stack, test_settings
from tests.integration.gateway_stack import bearer, running_gateway

SUPERVISOR_SERVICE = "marketing.supervisor.v1.SupervisorService"


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[tuple[str, dict[str, str]]]:
    settings = test_settings(auth_disabled=False)
    async with authenticated_stack(settings, ["acme"]) as (channel, keys):
        async with running_gateway(settings, channel) as url:
            yield url, bearer(keys["acme"])


def requests(method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("http_server_requests_total", labels) or 0.0


def durations(method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("http_server_request_duration_seconds_count", labels) or 0.0


def grpc_calls(method: str, code: str, service: str = SUPERVISOR_SERVICE) -> float:
    labels = {"grpc_service": service, "grpc_method": method, "grpc_code": code}
    return REGISTRY.get_sample_value("grpc_client_handled_total", labels) or 0.0


def label_values() -> set[str]:
    return {
        value
        for metric in REGISTRY.collect()
        if metric.name.startswith(("http_server_", "grpc_client_"))
        for sample in metric.samples
        for value in sample.labels.values()
    }


async def test_requests_are_counted_by_route_template_and_status(gateway: tuple[str, Any]) -> None:
    url, headers = gateway
    missing = str(uuid.uuid4())
    before = {
        "ok": requests("GET", "/v1/workflows", 200),
        "ok_seconds": durations("GET", "/v1/workflows", 200),
        "anonymous": requests("GET", "/v1/workflows", 401),
        "not_found": requests("GET", "/v1/workflows/{workflow_id}", 404),
        "unmatched": requests("GET", "unmatched", 404),
        "list_ok": grpc_calls("ListWorkflows", "OK"),
        "list_anonymous": grpc_calls("ListWorkflows", "UNAUTHENTICATED"),
        "get_not_found": grpc_calls("GetWorkflow", "NOT_FOUND"),
    }
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for _ in range(3):
            assert (await http.get("/v1/workflows", headers=headers)).status_code == 200
        assert (await http.get("/v1/workflows")).status_code == 401
        assert (await http.get(f"/v1/workflows/{missing}", headers=headers)).status_code == 404
        assert (await http.get(f"/no/such/{missing}")).status_code == 404
    assert requests("GET", "/v1/workflows", 200) == before["ok"] + 3
    assert durations("GET", "/v1/workflows", 200) == before["ok_seconds"] + 3
    assert requests("GET", "/v1/workflows", 401) == before["anonymous"] + 1
    assert requests("GET", "/v1/workflows/{workflow_id}", 404) == before["not_found"] + 1
    assert requests("GET", "unmatched", 404) == before["unmatched"] + 1
    assert grpc_calls("ListWorkflows", "OK") == before["list_ok"] + 3
    assert grpc_calls("ListWorkflows", "UNAUTHENTICATED") == before["list_anonymous"] + 1
    assert grpc_calls("GetWorkflow", "NOT_FOUND") == before["get_not_found"] + 1
    values = label_values()
    assert not any(missing in value for value in values), "an id in a label: unbounded cardinality"
    assert not any("acme" in value or "mka_" in value for value in values), "a tenant or a key in a label"


async def test_static_files_and_graphql_have_bounded_routes(gateway: tuple[str, Any]) -> None:
    url, headers = gateway
    before_static = requests("GET", "/docs/static/{path}", 200)
    before_graphql = requests("POST", "/graphql", 200)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        assert (await http.get("/docs/static/swagger-ui.css")).status_code == 200
        answer = await http.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert (await http.request("BREW", "/v1/workflows")).status_code == 405
    assert requests("GET", "/docs/static/{path}", 200) == before_static + 1
    assert requests("POST", "/graphql", 200) == before_graphql + 1
    assert requests("other", "/v1/workflows", 405) >= 1  # an unknown method is not a label value of its own


async def test_an_open_event_stream_is_in_flight_until_it_ends(gateway: tuple[str, Any]) -> None:
    url, headers = gateway
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        body = {"task": "Write a short blog post about vector search"}
        workflow_id = (await http.post("/v1/tasks", json=body, headers=headers)).json()["workflow"]["id"]
        idle = REGISTRY.get_sample_value("http_server_requests_in_flight")
        assert idle is not None
        async with http.stream("GET", f"/v1/workflows/{workflow_id}/events", headers=headers) as events:
            assert events.status_code == 200
            await anext(events.aiter_text())
            assert REGISTRY.get_sample_value("http_server_requests_in_flight") == idle + 1
    for _ in range(100):
        if REGISTRY.get_sample_value("http_server_requests_in_flight") == idle:
            break
        await asyncio.sleep(0.05)
    assert REGISTRY.get_sample_value("http_server_requests_in_flight") == idle
    assert requests("GET", "/v1/workflows/{workflow_id}/events", 200) >= 1
    assert grpc_calls("WatchWorkflow", "OK") + grpc_calls("WatchWorkflow", "CANCELLED") >= 1


def test_the_metrics_port_defaults_beside_the_services_and_metrics_port_overrides_it() -> None:
    settings = load_settings()
    assert gateway_metrics_port(settings) == settings.gateway_metrics_port == DEFAULT_GATEWAY_METRICS_PORT
    assert DEFAULT_GATEWAY_METRICS_PORT not in DEFAULT_METRICS_PORTS.values()
    assert gateway_metrics_port(load_settings(metrics_port=9999)) == 9999
    assert gateway_metrics_port(load_settings(metrics_port=0)) == 0  # no endpoint
