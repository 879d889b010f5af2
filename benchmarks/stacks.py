"""The two ways the benchmark runs a task: four service processes on loopback, or one process with no gRPC.

Both return the finished ``Workflow`` message, so the runs are checked and counted the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import grpc
from langchain_core.runnables.config import var_child_runnable_config
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.team.v1 import team_pb2

from common.launcher import SERVICES, ServiceLauncher, free_port

RUN_DIR = Path(__file__).resolve().parent / ".run"
PROFILE_HOOK = Path(__file__).resolve().parent / "profile_hook"

# Generous bounds so that the supervisor's own caps never cut a benchmark task short (see common/config.py):
# TASK_TIMEOUT_S bounds a task and TEAM_CALL_TIMEOUT_S a team call; a breaker that opened would turn slow teams
# into CIRCUIT_OPEN runs. There is no cap on concurrent tasks in the services (grpc.aio servers are created
# without maximum_concurrent_rpcs).
STACK_LIMITS = {
    "TASK_TIMEOUT_S": "1800",
    "TEAM_CALL_TIMEOUT_S": "1800",
    "BREAKER_FAIL_MAX": "100",
    "SUPERVISOR_MAX_STEPS": "8",
    "TEAM_MAX_STEPS": "8",
}
CLIENT_DEADLINE_S = 900.0


def stack_environment(latency_ms: int) -> dict[str, str]:
    """Environment of every benchmark service: offline model with the given latency, generous limits."""
    return {
        "LLM_PROVIDER": "offline",
        "OFFLINE_LLM_LATENCY_MS": str(latency_ms),
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        **STACK_LIMITS,
    }


def read_memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set since the process started) of a process, in kB."""
    values: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values


@dataclass
class ProcessStack:
    """The four services as separate processes on 127.0.0.1 (free ports), called with a grpc.aio client."""

    latency_ms: int
    profiled: tuple[str, ...] = ()
    launcher: ServiceLauncher = field(init=False)
    channel: grpc.aio.Channel | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        log_dir = RUN_DIR / f"stack-{self.latency_ms}ms"
        shutil.rmtree(log_dir, ignore_errors=True)
        env = stack_environment(self.latency_ms)
        if self.profiled:
            # benchmarks/profile_hook/sitecustomize.py starts pyinstrument in the services named here.
            env |= {
                "PYTHONPATH": os.pathsep.join(filter(None, [str(PROFILE_HOOK), os.environ.get("PYTHONPATH")])),
                "BENCH_PROFILE_SERVICES": ",".join(self.profiled),
                "BENCH_PROFILE_DIR": str(RUN_DIR / "profile"),
            }
        options: dict[str, Any] = {"log_dir": log_dir, "ports": {n: free_port() for n in SERVICES}, "env": env}
        if "metrics_ports" in {f.name for f in fields(ServiceLauncher)}:
            options["metrics_ports"] = {n: free_port() for n in SERVICES}
        self.launcher = ServiceLauncher(**options)

    @property
    def pids(self) -> dict[str, int]:
        """Process id of each service."""
        return {name: p.process.pid for name, p in self.launcher.processes.items()}

    def memory_kb(self) -> dict[str, dict[str, int]]:
        """VmRSS and VmHWM of each service process."""
        return {name: read_memory_kb(pid) for name, pid in self.pids.items()}

    async def start(self) -> None:
        """Start the services and wait until each answers SERVING (raises with the log's tail otherwise)."""
        try:
            await asyncio.to_thread(self.launcher.start_all, SERVICES, 60.0)
        except BaseException:
            await asyncio.to_thread(self.launcher.stop_all)
            raise
        self.channel = grpc.aio.insecure_channel(
            self.launcher.processes["supervisor"].address,
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        await self.channel.channel_ready()

    async def stop(self) -> None:
        """Close the client and stop the services (SIGTERM, graceful drain)."""
        if self.channel is not None:
            await self.channel.close()
            self.channel = None
        await asyncio.to_thread(self.launcher.stop_all)

    async def run(self, task: str) -> supervisor_pb2.Workflow:
        """Run one task with ``RunTask``; a non-OK status raises ``grpc.aio.AioRpcError``."""
        assert self.channel is not None, "the stack is not started"
        stub = supervisor_pb2_grpc.SupervisorServiceStub(self.channel)
        response = await stub.RunTask(supervisor_pb2.RunTaskRequest(task=task), timeout=CLIENT_DEADLINE_S)
        return response.workflow

    async def stream(self, task: str) -> tuple[supervisor_pb2.Workflow | None, list[team_pb2.AgentStep]]:
        """Run one task with ``StreamTask``: the workflow and every ``agent_step`` event (which carry usage)."""
        assert self.channel is not None, "the stack is not started"
        stub = supervisor_pb2_grpc.SupervisorServiceStub(self.channel)
        workflow, steps = None, []
        async for event in stub.StreamTask(supervisor_pb2.StreamTaskRequest(task=task), timeout=CLIENT_DEADLINE_S):
            if event.HasField("agent_step"):
                steps.append(event.agent_step)
            elif event.HasField("done"):
                workflow = event.done
        return workflow, steps


class _NoDeadline:
    """The part of a ``grpc.aio.ServicerContext`` that ``SupervisorServicer._events`` uses: no caller deadline."""

    def time_remaining(self) -> None:
        return None


class InProcessTeam:
    """A team caller with no gRPC: iterates the team's ``TeamServicer.StreamBrief`` in this process.

    The team's stream runs in its own task whose context has no parent runnable config, as in a team process. Run
    inline in the supervisor's node instead, LangGraph would treat the team graph as a subgraph of the
    supervisor's graph: it inherits the supervisor's callbacks (the supervisor's usage ledger then counts every
    team model call as a routing call) and its step metadata (per-step usage comes out empty).
    """

    def __init__(self, servicer: Any) -> None:
        self.servicer = servicer

    async def stream_brief(
        self, brief: team_pb2.Brief, timeout_s: float, stream_text: bool = False
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        request = team_pb2.StreamBriefRequest(brief=brief, stream_text=stream_text)
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for event in self.servicer.StreamBrief(request, None):
                    queue.put_nowait(event)
            except Exception as exc:
                queue.put_nowait(exc)
            else:
                queue.put_nowait(_END)

        context = contextvars.copy_context()
        context.run(var_child_runnable_config.set, None)
        pumping = asyncio.get_running_loop().create_task(pump(), context=context)
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            pumping.cancel()


_END = object()


def configure_in_process_observability(log_path: Path) -> None:
    """Logs and tracing as a service process has them (JSON logs at INFO, an SDK tracer provider), the logs
    going to a file instead of this process's stdout."""
    from common.logging import configure_logging
    from common.telemetry import setup_tracing

    log_path.parent.mkdir(parents=True, exist_ok=True)
    stream = log_path.open("a", buffering=1)  # kept open: the log handler writes to it for the process's life
    with contextlib.redirect_stdout(stream):
        configure_logging("inprocess", "INFO", "json")
    setup_tracing("inprocess")


class InProcessStack:
    """The same supervisor and team graphs composed in one process, driven as ``SupervisorServicer`` does."""

    def __init__(self, latency_ms: int) -> None:
        from common.agents.team_graph import build_team_graph
        from common.agents.team_service import TeamServicer
        from common.config import load_settings
        from content_service.graph import content_team
        from research_service.__main__ import load_knowledge_base
        from research_service.graph import research_team
        from social_service.graph import social_team
        from supervisor_service.graph import build_supervisor_graph
        from supervisor_service.servicer import SupervisorServicer

        overrides: dict[str, Any] = {k.lower(): v for k, v in STACK_LIMITS.items()}
        settings = load_settings(llm_provider="offline", offline_llm_latency_ms=latency_ms, **overrides)
        teams = {
            "research": research_team(load_knowledge_base(settings)),
            "content": content_team(),
            "social": social_team(),
        }
        callers = {
            name: InProcessTeam(TeamServicer(name, build_team_graph(team, settings), settings))
            for name, team in teams.items()
        }
        self.latency_ms = latency_ms
        self.servicer = SupervisorServicer(build_supervisor_graph(settings, callers), settings)

    async def run(self, task: str) -> supervisor_pb2.Workflow:
        """Run one task through the graphs; returns the workflow the RPC would have returned."""
        workflow = None
        async for event in self.servicer._events(task, _NoDeadline(), stream_text=False):
            if event.HasField("done"):
                workflow = event.done
        if workflow is None:
            raise RuntimeError("the supervisor finished without a workflow")
        return workflow


def environment_summary() -> dict[str, str]:
    """Benchmark-relevant variables of this process's environment (the services inherit them)."""
    keys = ("LLM_PROVIDER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER", "LOG_LEVEL")
    return {k: os.environ[k] for k in keys if k in os.environ}
