"""One trace across the four services, logs carrying its id, Prometheus counters moving, error spans."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from common.launcher import ServiceLauncher
from tests.e2e.conftest import launch
from tests.fakes.otlp_receiver import OtlpReceiver, ReceivedSpan

TASK = "Launch campaign for our vector database: research, a blog article and LinkedIn posts"
TEAMS = ("research", "content", "social")
SPAN_SERVER = trace_pb2.Span.SPAN_KIND_SERVER
SPAN_CLIENT = trace_pb2.Span.SPAN_KIND_CLIENT
STATUS_ERROR = trace_pb2.Status.STATUS_CODE_ERROR


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as otlp:
        yield otlp


@pytest.fixture(scope="module")
def traced_stack(
    tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver
) -> Iterator[ServiceLauncher]:
    launcher = launch(
        Path(tmp_path_factory.mktemp("traced-logs")),
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
        TEAM_CALL_MAX_ATTEMPTS="1",
    )
    yield launcher
    launcher.stop_all()


def scrape(url: str) -> dict[str, float]:
    """Prometheus text format to {series: value}."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    series = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            series[name] = float(value)
    return series


def run_task(stack: ServiceLauncher, task: str) -> supervisor_pb2.Workflow:
    with grpc.insecure_channel(stack.processes["supervisor"].address) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        return stub.RunTask(supervisor_pb2.RunTaskRequest(task=task), timeout=60).workflow


def trace_of(
    receiver: OtlpReceiver, workflow_id: str, services: set[str], timeout_s: float = 15
) -> list[ReceivedSpan]:
    """The workflow's whole trace: wait for the supervisor's root span and every named service, then for the
    exports to settle (each process flushes its own batches)."""
    deadline = time.monotonic() + timeout_s
    previous = -1
    while time.monotonic() < deadline:
        spans = receiver.snapshot()
        ids = {s.trace_id for s in spans if s.attributes.get("marketing.workflow_id") == workflow_id}
        assert len(ids) <= 1, f"the workflow is spread over {len(ids)} traces"
        trace = [s for s in spans if s.trace_id in ids]
        root = [
            s for s in trace if s.service == "supervisor" and s.kind == SPAN_SERVER and not s.parent_span_id
        ]
        if root and services <= {s.service for s in trace} and len(trace) == previous:
            return trace
        previous = len(trace)
        time.sleep(0.5)
    raise AssertionError(f"the trace of {workflow_id} did not arrive complete in {timeout_s}s")


def ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    chain = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


def test_one_trace_spans_all_four_services(traced_stack: ServiceLauncher, receiver: OtlpReceiver) -> None:
    metrics_before = {name: scrape(p.metrics_url) for name, p in traced_stack.processes.items()}
    workflow = run_task(traced_stack, TASK)
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED
    spans = trace_of(receiver, workflow.id, {"supervisor", *TEAMS})
    assert {s.service for s in spans} >= {"supervisor", *TEAMS}
    by_id = {s.span_id: s for s in spans}
    trace_id = spans[0].trace_id

    for team in TEAMS:
        # supervisor -> team edge: the team's server span is a child of the supervisor's client span for that call
        server = next(
            s
            for s in spans
            if s.service == team and s.kind == SPAN_SERVER and s.name.endswith("TeamService/StreamBrief")
        )
        assert server.attributes["marketing.tenant_id"] == "default", (
            "the caller's tenant is on the team's span"
        )
        client = by_id[server.parent_span_id]
        assert client.service == "supervisor" and client.kind == SPAN_CLIENT
        team_call = by_id[client.parent_span_id]
        assert team_call.name == f"team_call {team}" and team_call.attributes["marketing.team"] == team
        # model and tool spans sit inside their team's server span
        model_spans = [
            s for s in spans if s.service == team and s.attributes.get("gen_ai.operation.name") == "chat"
        ]
        tool_spans = [
            s
            for s in spans
            if s.service == team and s.attributes.get("gen_ai.operation.name") == "execute_tool"
        ]
        assert model_spans and tool_spans
        for span in model_spans + tool_spans:
            assert server in ancestors(span, by_id)
        assert all(s.attributes["gen_ai.request.model"] == "offline" for s in model_spans)
        assert all(s.attributes["gen_ai.usage.input_tokens"] > 0 for s in model_spans)
        agents = [s for s in spans if s.service == team and s.name.startswith("agent ")]
        assert {s.attributes["marketing.agent"] for s in agents} and all(
            server in ancestors(s, by_id) for s in agents
        )

    routes = [s for s in spans if s.service == "supervisor" and s.name == "route supervisor"]
    assert [s.attributes["marketing.route.next"] for s in routes] == [
        "research",
        "content",
        "social",
        "FINISH",
    ]
    assert all(s.attributes["marketing.route.reasoning"] for s in routes)

    # every service's log lines of this task carry its trace id
    for name, process in traced_stack.processes.items():
        lines = [
            json.loads(line) for line in process.log_path.read_text().splitlines() if line.startswith("{")
        ]
        mine = [line for line in lines if line.get("workflow_id") == workflow.id]
        assert mine, f"{name} logged nothing for the workflow"
        assert {line.get("trace_id") for line in mine} == {trace_id}, name

    # the counters moved
    after = {name: scrape(p.metrics_url) for name, p in traced_stack.processes.items()}

    def moved(service: str, series: str) -> float:
        return after[service].get(series, 0.0) - metrics_before[service].get(series, 0.0)

    assert moved("supervisor", 'marketing_tasks_total{status="completed"}') == 1
    assert moved("supervisor", 'marketing_team_calls_total{status="succeeded",team="social"}') == 1
    assert (
        moved(
            "supervisor",
            'grpc_server_handled_total{grpc_code="OK",grpc_method="RunTask",grpc_service="marketing.supervisor.v1.SupervisorService"}',
        )
        == 1
    )
    assert after["supervisor"]['marketing_breaker_state{team="research"}'] == 0
    assert after["supervisor"]["marketing_workflows_in_flight"] == 0
    assert moved("research", 'marketing_artifacts_total{kind="research_brief",team="research"}') == 1
    assert moved("social", 'marketing_posts_scheduled_total{platform="linkedin"}') == 1
    assert moved("content", 'marketing_model_tokens_total{direction="input",model="offline"}') > 0
    assert 'marketing_cost_usd_total{team="content"}' in after["content"]
    assert moved("content", 'marketing_model_call_seconds_count{model="offline"}') >= 4
    assert moved("research", 'marketing_tool_calls_total{outcome="ok",tool="search_knowledge_base"}') >= 1
    assert moved("social", 'marketing_tool_call_seconds_count{tool="draft_post"}') >= 1


def test_a_failing_team_call_is_an_error_span_with_its_grpc_code(
    traced_stack: ServiceLauncher, receiver: OtlpReceiver
) -> None:
    traced_stack.stop("social", signal.SIGKILL)
    workflow = run_task(traced_stack, "Draft LinkedIn posts announcing our release")
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_FAILED
    spans = trace_of(receiver, workflow.id, {"supervisor"})
    team_call = next(s for s in spans if s.name == "team_call social")
    assert team_call.status_code == STATUS_ERROR
    assert team_call.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    client = next(s for s in spans if s.kind == SPAN_CLIENT and s.parent_span_id == team_call.span_id)
    assert client.status_code == STATUS_ERROR
    assert client.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]
