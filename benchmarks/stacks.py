"""The two ways the benchmark runs a task: four service processes on loopback, or one process with no gRPC.

Both return the finished ``Workflow`` message, so the runs are checked and counted the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
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
from common.teams import TEAMS

RUN_DIR = Path(__file__).resolve().parent / ".run"
PROFILE_HOOK = Path(__file__).resolve().parent / "profile_hook"

# Generous bounds so that the services' own caps never cut a benchmark task short (see common/config.py):
# TASK_TIMEOUT_S bounds a task and TEAM_CALL_TIMEOUT_S a team call; a breaker that opened would turn slow teams
# into CIRCUIT_OPEN runs; MAX_CONCURRENT_WORKFLOWS (default 64) and MAX_CONCURRENT_BRIEFS (default 32) answer
# RESOURCE_EXHAUSTED beyond them (common/overload.py), which would make 256 concurrent tasks fail by design.
STACK_LIMITS = {
    "TASK_TIMEOUT_S": "1800",
    "TEAM_CALL_TIMEOUT_S": "1800",
    "BREAKER_FAIL_MAX": "100",
    "MAX_CONCURRENT_WORKFLOWS": "4096",
    "MAX_CONCURRENT_BRIEFS": "4096",
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


def read_cpu_s(pid: int) -> float:
    """User plus system CPU time a process has used so far, in seconds (from /proc/<pid>/stat)."""
    try:
        fields_after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields_after_name[11]) + int(fields_after_name[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessStack:
    """The four services as separate processes on 127.0.0.1 (free ports), called with a grpc.aio client."""

    latency_ms: int
    profiled: tuple[str, ...] = ()
    launcher: ServiceLauncher = field(init=False)
    channel: grpc.aio.Channel | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        log_dir = RUN_DIR / f"stack-{self.latency_ms}ms"
        data_dir = RUN_DIR / f"data-stack-{self.latency_ms}ms"
        for directory in (log_dir, data_dir):
            shutil.rmtree(directory, ignore_errors=True)
        data_dir.mkdir(parents=True)
        env = stack_environment(self.latency_ms) | {"DATA_DIR": str(data_dir)}
        if self.profiled or os.environ.get("BENCH_SWITCH_INTERVAL"):
            # benchmarks/profile_hook/sitecustomize.py: pyinstrument in the services named here (--profile), and
            # the BENCH_SWITCH_INTERVAL experiment.
            env |= {
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(PROFILE_HOOK), os.environ.get("PYTHONPATH")])
                ),
                "BENCH_PROFILE_SERVICES": ",".join(self.profiled),
                "BENCH_PROFILE_DIR": str(RUN_DIR / "profile"),
            }
        options: dict[str, Any] = {
            "log_dir": log_dir,
            "ports": {n: free_port() for n in SERVICES},
            "env": env,
        }
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

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds each service process has used so far."""
        return {name: read_cpu_s(pid) for name, pid in self.pids.items()}

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
        async for event in stub.StreamTask(
            supervisor_pb2.StreamTaskRequest(task=task), timeout=CLIENT_DEADLINE_S
        ):
            if event.HasField("agent_step"):
                steps.append(event.agent_step)
            elif event.HasField("done"):
                workflow = event.done
        return workflow, steps


class _Context:
    """What the servicers read from a ``grpc.aio.ServicerContext`` in-process: no caller deadline, no metadata."""

    def time_remaining(self) -> None:
        return None

    def invocation_metadata(self) -> tuple[()]:
        return ()


class _CapturingServer:
    """Stands in for ``grpc.aio.Server`` while a service registers its servicers: keeps their method handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        for method, handler in handlers.items():
            self.handlers[f"/{service}/{method}"] = handler


STREAM_BRIEF = "/marketing.team.v1.TeamService/StreamBrief"
RUN_TASK = "/marketing.supervisor.v1.SupervisorService/RunTask"
_BRIEF_REQUEST_FIELDS = frozenset(team_pb2.StreamBriefRequest.DESCRIPTOR.fields_by_name)


class InProcessTeam:
    """A team caller with no gRPC: iterates the team's ``TeamService.StreamBrief`` handler in this process.

    The team's stream runs in its own task whose context has no parent runnable config, as in a team process. Run
    inline in the supervisor's node instead, LangGraph would treat the team graph as a subgraph of the
    supervisor's graph: it inherits the supervisor's callbacks (the supervisor's usage ledger then counts every
    team model call as a routing call) and its step metadata (per-step usage comes out empty).
    """

    def __init__(self, stream_brief_handler: Any) -> None:
        self.handler = stream_brief_handler

    async def close(self) -> None:
        """Nothing to close (the supervisor closes its team clients on stop)."""

    async def stream_brief(
        self,
        brief: team_pb2.Brief,
        timeout_s: float,
        stream_text: bool = False,
        idempotency_key: str = "",
        **fields: Any,
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        fields["idempotency_key"] = idempotency_key
        extra = {k: v for k, v in fields.items() if k in _BRIEF_REQUEST_FIELDS and v}
        request = team_pb2.StreamBriefRequest(brief=brief, stream_text=stream_text, **extra)
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for event in self.handler(request, _Context()):
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
    """The four services composed in one process with no gRPC.

    Each service is built by its own ``build(settings)`` (as ``python -m <name>_service`` does: stores,
    checkpointers, servicers), its servicers are registered on a stand-in server that keeps the method handlers,
    and the supervisor's team clients are replaced by callers of the teams' ``StreamBrief`` handlers. A task runs
    through the supervisor's ``RunTask`` handler with a context that has no deadline, as the gRPC server would
    call it, minus the network, serialization and server interceptors.
    """

    def __init__(self, latency_ms: int) -> None:
        self.latency_ms = latency_ms
        self._parts: list[Any] = []
        self._run_task: Any = None

    async def start(self) -> None:
        """Build the services (SQLite files under benchmarks/.run/data-inprocess-<latency>ms)."""
        from common.config import load_settings
        from supervisor_service.__main__ import build as build_supervisor

        data_dir = RUN_DIR / f"data-inprocess-{self.latency_ms}ms"
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        overrides: dict[str, Any] = {k.lower(): v for k, v in STACK_LIMITS.items()}
        settings = load_settings(
            llm_provider="offline",
            offline_llm_latency_ms=self.latency_ms,
            data_dir=data_dir,
            auth_disabled=True,  # as the process stack (the launcher's loopback default): the default tenant
            **overrides,
        )
        callers = {}
        for team in TEAMS:
            build = importlib.import_module(f"{team.package}.__main__").build
            callers[team.name] = InProcessTeam(
                self._handlers(await build(settings))[STREAM_BRIEF].unary_stream
            )
        self._run_task = self._handlers(await build_supervisor(settings, clients=callers))[
            RUN_TASK
        ].unary_unary

    def _handlers(self, parts: Any) -> dict[str, Any]:
        self._parts.append(parts)
        server = _CapturingServer()
        for registration in parts.registrations:
            registration.register(server)
        return server.handlers

    async def stop(self) -> None:
        """Shut the services down as their processes would (supervisor first)."""
        for parts in reversed(self._parts):
            for callback in [*parts.before_stop, *parts.on_stop]:
                await callback()
        self._parts.clear()

    async def run(self, task: str) -> supervisor_pb2.Workflow:
        """Run one task through the supervisor's RunTask handler; returns the workflow the RPC would return."""
        response = await self._run_task(supervisor_pb2.RunTaskRequest(task=task), _Context())
        return response.workflow


def environment_summary() -> dict[str, str]:
    """Benchmark-relevant variables of this process's environment (the services inherit them)."""
    keys = (
        "LLM_PROVIDER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_TRACES_EXPORTER",
        "LOG_LEVEL",
        "DATABASE_URL",
    )
    return {k: os.environ[k] for k in keys if k in os.environ}
