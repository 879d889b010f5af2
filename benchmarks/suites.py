"""The three measurements: orchestration overhead, throughput under concurrency, model calls per task."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from marketing.supervisor.v1 import supervisor_pb2
from marketing.team.v1 import team_pb2

from benchmarks.stacks import InProcessStack, ProcessStack
from benchmarks.stats import percentile, summary_ms
from benchmarks.tasks import CAMPAIGN, TASKS, BenchTask

DISTRIBUTED = "distributed"
IN_PROCESS = "in_process"


class Stack(Protocol):
    """Either way of running a task."""

    async def run(self, task: str) -> supervisor_pb2.Workflow: ...


@dataclass
class Outcome:
    """One task run: how long it took from the caller's side and what went wrong, if anything."""

    seconds: float
    error: str
    workflow: supervisor_pb2.Workflow | None


def workflow_problem(workflow: supervisor_pb2.Workflow, task: BenchTask) -> str:
    """Why a finished workflow counts as an error ("" when it does not): a status other than COMPLETED, or
    teams other than the task's shape."""
    if workflow.status != supervisor_pb2.WORKFLOW_STATUS_COMPLETED:
        status = supervisor_pb2.WorkflowStatus.Name(workflow.status)
        return f"{status}: {workflow.summary}; {'; '.join(workflow.warnings)}"[:500]
    teams = tuple(run.team for run in workflow.team_runs)
    if teams != task.teams:
        return f"routed to {teams}, expected {task.teams}"
    return ""


async def run_once(stack: Stack, task: BenchTask) -> Outcome:
    """Run a task and time it; an RPC error or a workflow that is not COMPLETED is an error."""
    started = time.perf_counter()
    try:
        workflow = await stack.run(task.text)
    except grpc.aio.AioRpcError as exc:
        return Outcome(time.perf_counter() - started, f"rpc {exc.code().name}: {exc.details()}", None)
    except Exception as exc:  # in-process failures: the benchmark reports them like RPC errors
        return Outcome(time.perf_counter() - started, f"{type(exc).__name__}: {exc}", None)
    elapsed = time.perf_counter() - started
    return Outcome(elapsed, workflow_problem(workflow, task), workflow)


# efficiency ----------------------------------------------------------------------------------------------


def usage_figures(
    workflow: supervisor_pb2.Workflow, streamed_steps: list[team_pb2.AgentStep] | None = None
) -> dict[str, Any]:
    """Model calls and tokens of one workflow, split into supervisor routing, team-lead routing and workers.

    Team-lead routing calls come from per-step usage. The workflow's own steps are used when their usage adds up
    to the teams' usage; otherwise (``Workflow.team_runs[].steps[].usage`` arrives empty) the ``agent_step``
    events of a ``StreamTask`` run of the same task are used.
    """
    team_calls = sum(run.usage.model_calls for run in workflow.team_runs)
    team_in = sum(run.usage.input_tokens for run in workflow.team_runs)
    team_out = sum(run.usage.output_tokens for run in workflow.team_runs)
    workflow_steps = [step for run in workflow.team_runs for step in run.steps]
    workflow_step_calls = sum(step.usage.model_calls for step in workflow_steps)
    source, steps = "workflow.team_runs[].steps[].usage", workflow_steps
    if workflow_step_calls != team_calls and streamed_steps is not None:
        source, steps = "StreamTask agent_step events", streamed_steps
    lead = [s for s in steps if s.kind == team_pb2.AGENT_STEP_KIND_ROUTING]
    work = [s for s in steps if s.kind == team_pb2.AGENT_STEP_KIND_WORK]
    lead_calls = sum(s.usage.model_calls for s in lead)
    lead_tokens = sum(s.usage.input_tokens + s.usage.output_tokens for s in lead)
    step_calls = sum(s.usage.model_calls for s in steps)
    routing = workflow.routing_usage
    return {
        "teams_called": len(workflow.team_runs),
        "supervisor_routing_steps": len(workflow.routing_steps),
        "supervisor_router_calls": routing.model_calls,
        "supervisor_router_calls_min": len(workflow.team_runs) + 1,
        "team_lead_routing_steps": len(lead),
        "team_lead_router_calls": lead_calls,
        # One routing decision per worker that ran, plus the one that finishes, in each team.
        "team_lead_router_calls_min": len(work) + len(workflow.team_runs),
        "worker_steps": len(work),
        "worker_calls": team_calls - lead_calls,
        "total_calls": workflow.usage.model_calls,
        "supervisor_router_tokens": routing.input_tokens + routing.output_tokens,
        "team_lead_router_tokens": lead_tokens,
        "worker_tokens": team_in + team_out - lead_tokens,
        "input_tokens": workflow.usage.input_tokens,
        "output_tokens": workflow.usage.output_tokens,
        "total_tokens": workflow.usage.input_tokens + workflow.usage.output_tokens,
        "step_usage_source": source,
        "step_usage_adds_up": step_calls == team_calls,
        "workflow_step_usage_calls": workflow_step_calls,
    }


def efficiency(
    workflows: dict[str, list[supervisor_pb2.Workflow]], streamed: dict[str, list[team_pb2.AgentStep]]
) -> dict[str, Any]:
    """Model calls and tokens per task shape, with the minimum and whether every run agreed."""
    per_task: dict[str, Any] = {}
    for task in TASKS:
        figures = [usage_figures(w, streamed.get(task.shape)) for w in workflows.get(task.shape, [])]
        if not figures:
            continue
        numeric = [
            {k: v for k, v in f.items() if isinstance(v, int) and not isinstance(v, bool)} for f in figures
        ]
        distinct = {tuple(sorted(f.items())) for f in numeric}
        per_task[task.shape] = {
            **figures[0],
            "teams_needed": len(task.teams),
            "runs": len(figures),
            "identical_across_runs": len(distinct) == 1,
            "max_across_runs": {k: max(f[k] for f in numeric) for k in numeric[0]},
        }
    return per_task


# overhead ------------------------------------------------------------------------------------------------


@dataclass
class _OverheadRecord:
    """What the overhead runs collected: by (stack name, task shape), workflows by task shape, pairs by
    (repetition, task shape)."""

    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    errors: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    workflows: dict[str, list[supervisor_pb2.Workflow]] = field(default_factory=dict)
    pairs: dict[tuple[int, str], dict[str, float]] = field(default_factory=dict)
    cpu: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)


async def _warm_up(stacks: list[tuple[str, Stack]], warmup: int, record: _OverheadRecord) -> None:
    """Run every task on every stack ``warmup`` times, keeping only the errors."""
    for _ in range(warmup):
        for task in TASKS:
            for name, stack in stacks:
                outcome = await run_once(stack, task)
                if outcome.error:
                    record.errors.setdefault((name, task.shape), []).append(f"warm-up: {outcome.error}")


async def _timed_run(
    distributed: ProcessStack, name: str, stack: Stack, task: BenchTask, rep: int, record: _OverheadRecord
) -> None:
    """One measured run: its latency, the CPU time of each process, its error and its workflow."""
    services_before = distributed.cpu_s() if name == DISTRIBUTED else {}
    own_before = time.process_time()
    outcome = await run_once(stack, task)
    own = time.process_time() - own_before
    spent = record.cpu.setdefault((name, task.shape), Counter())
    spent["benchmark process" if name == IN_PROCESS else "client"] += own
    for service, seconds in distributed.cpu_s().items() if name == DISTRIBUTED else ():
        spent[service] += seconds - services_before[service]
    record.samples.setdefault((name, task.shape), []).append(outcome.seconds)
    record.pairs.setdefault((rep, task.shape), {})[name] = outcome.seconds
    if outcome.error:
        record.errors.setdefault((name, task.shape), []).append(outcome.error)
    if outcome.workflow is not None:
        record.workflows.setdefault(task.shape, []).append(outcome.workflow)


async def _measure(
    distributed: ProcessStack, stacks: list[tuple[str, Stack]], reps: int, record: _OverheadRecord
) -> None:
    """``reps`` repetitions of every task on both stacks back to back, alternating which goes first."""
    for rep in range(reps):
        order = stacks if rep % 2 == 0 else stacks[::-1]
        for task in TASKS:
            for name, stack in order:
                await _timed_run(distributed, name, stack, task, rep, record)


def _overhead_row(
    task: BenchTask, record: _OverheadRecord, stacks: list[tuple[str, Stack]], reps: int
) -> dict[str, Any]:
    """One task's latencies on both stacks, their ratios, the added time per team hop, CPU time and errors."""
    dist = summary_ms(record.samples[(DISTRIBUTED, task.shape)])
    local = summary_ms(record.samples[(IN_PROCESS, task.shape)])
    hops = len(task.teams)
    paired = [
        (p[DISTRIBUTED] - p[IN_PROCESS]) / hops
        for (_, shape), p in record.pairs.items()
        if shape == task.shape and len(p) == 2
    ]
    return {
        "task": task.shape,
        "text": task.text,
        "team_calls": hops,
        DISTRIBUTED: dist,
        IN_PROCESS: local,
        "ratio_p50": round(dist["p50_ms"] / local["p50_ms"], 4),
        "ratio_p95": round(dist["p95_ms"] / local["p95_ms"], 4),
        "added_per_team_hop_p50_ms": round((dist["p50_ms"] - local["p50_ms"]) / hops, 3),
        # The median of the per-repetition differences (each pair ran back to back): less sensitive to
        # drift than the difference of the two medians.
        "added_per_team_hop_paired_median_ms": round(1000 * percentile(paired, 50), 3),
        # CPU time (user + system) per run, by process: /proc/<pid>/stat for the services (10 ms ticks,
        # summed over all runs), time.process_time() for this process.
        "cpu_ms_per_run": {
            name: {k: round(1000 * v / reps, 2) for k, v in sorted(record.cpu[(name, task.shape)].items())}
            for name, _ in stacks
        },
        "errors": {name: record.errors.get((name, task.shape), []) for name, _ in stacks},
    }


def _overhead_summary(rows: list[dict[str, Any]], errors: dict[tuple[str, str], list[str]]) -> dict[str, Any]:
    """Worst task and all tasks together: p50 ratio and added time per team hop; the number of errors."""
    dist_total = sum(r[DISTRIBUTED]["p50_ms"] for r in rows)
    local_total = sum(r[IN_PROCESS]["p50_ms"] for r in rows)
    hops_total = sum(r["team_calls"] for r in rows)
    return {
        "ratio_p50_worst": max(r["ratio_p50"] for r in rows),
        "ratio_p50_all_tasks": round(dist_total / local_total, 4),
        "added_per_team_hop_p50_ms_worst": max(r["added_per_team_hop_p50_ms"] for r in rows),
        "added_per_team_hop_p50_ms_all_tasks": round((dist_total - local_total) / hops_total, 3),
        "error_count": sum(len(v) for v in errors.values()),
    }


async def overhead(
    latency_ms: int, reps: int, warmup: int, log: Any, stream_steps: bool = False
) -> dict[str, Any]:
    """The tasks through the process stack and through the in-process composition, interleaved.

    Each repetition runs every task on both stacks back to back, alternating which goes first, so a drift of the
    machine affects both alike. With ``stream_steps``, each task also runs once with ``StreamTask`` afterwards
    (not timed) to collect its per-step usage.
    """
    distributed = ProcessStack(latency_ms)
    await distributed.start()
    record = _OverheadRecord()
    streamed: dict[str, list[team_pb2.AgentStep]] = {}
    in_process = InProcessStack(latency_ms)
    try:
        await in_process.start()
        stacks: list[tuple[str, Stack]] = [(DISTRIBUTED, distributed), (IN_PROCESS, in_process)]
        await _warm_up(stacks, warmup, record)
        log(
            f"  overhead @ {latency_ms} ms: warm-up done, {reps} repetitions of {len(TASKS)} tasks x 2 stacks"
        )
        await _measure(distributed, stacks, reps, record)
        if stream_steps:
            for task in TASKS:
                _, streamed[task.shape] = await distributed.stream(task.text)
    finally:
        await in_process.stop()
        await distributed.stop()

    rows = [_overhead_row(task, record, stacks, reps) for task in TASKS]
    return {
        "latency_ms": latency_ms,
        "repetitions": reps,
        "warmup_rounds": warmup,
        "tasks": rows,
        "summary": _overhead_summary(rows, record.errors),
        "_workflows": record.workflows,
        "_streamed_steps": streamed,
    }


# throughput ----------------------------------------------------------------------------------------------


async def _sample_rss(stack: ProcessStack, peaks: dict[str, int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for name, memory in stack.memory_kb().items():
            peaks[name] = max(peaks.get(name, 0), memory.get("VmRSS", 0))
        try:
            await asyncio.wait_for(stop.wait(), 0.25)
        except TimeoutError:
            pass


async def throughput_level(
    stack: ProcessStack, concurrency: int, total: int, budget_s: float, task: BenchTask
) -> dict[str, Any]:
    """``concurrency`` closed-loop clients run ``total`` tasks (no new task starts after ``budget_s``)."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    started_count = 0
    peaks: dict[str, int] = {}
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_rss(stack, peaks, stop))
    cpu_before = stack.cpu_s()
    client_cpu_before = time.process_time()
    began = time.perf_counter()

    async def client() -> None:
        nonlocal started_count
        while started_count < total and time.perf_counter() - began < budget_s:
            started_count += 1
            outcome = await run_once(stack, task)
            if outcome.error:
                errors[outcome.error.split(":")[0]] += 1
            else:
                latencies.append(outcome.seconds)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - began
    cpu = {name: seconds - cpu_before.get(name, 0.0) for name, seconds in stack.cpu_s().items()}
    cpu["benchmark client"] = time.process_time() - client_cpu_before
    stop.set()
    await sampler
    memory = stack.memory_kb()
    finished = len(latencies) + sum(errors.values())
    return {
        "concurrency": concurrency,
        "tasks": finished,
        "completed": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "wall_s": round(wall, 3),
        "tasks_per_s": round(len(latencies) / wall, 3),
        "latency": summary_ms(latencies),
        "cpu_s": {name: round(seconds, 2) for name, seconds in cpu.items()},
        "cpu_ms_per_task": {
            name: round(1000 * seconds / max(finished, 1), 1) for name, seconds in cpu.items()
        },
        "cpu_utilisation_pct": round(100 * sum(cpu.values()) / wall / (os.cpu_count() or 1), 1),
        "memory_mb": {
            name: {
                "vmhwm_after_level": round(memory[name].get("VmHWM", 0) / 1024, 1),
                "vmrss_peak_sampled": round(peaks.get(name, 0) / 1024, 1),
            }
            for name in memory
        },
    }


async def throughput(
    levels: list[int], latency_ms: int, rounds: int, budget_s: float, log: Any
) -> dict[str, Any]:
    """Throughput of the process stack at each concurrency level, one task shape (the full campaign)."""
    stack = ProcessStack(latency_ms)
    await stack.start()
    results = []
    try:
        baseline_memory = stack.memory_kb()
        await run_once(stack, CAMPAIGN)  # warm-up: channels connected, code paths imported
        for concurrency in levels:
            total = concurrency * (3 if concurrency == 1 else rounds)
            level = await throughput_level(stack, concurrency, total, budget_s, CAMPAIGN)
            results.append(level)
            log(
                f"  throughput c={concurrency}: {level['completed']}/{level['tasks']} ok, "
                f"{level['tasks_per_s']} tasks/s, p50 {level['latency'].get('p50_ms')} ms, "
                f"{level['errors']} errors, {level['wall_s']} s"
            )
    finally:
        await stack.stop()
    single = next((r for r in results if r["concurrency"] == 1 and r["completed"]), None)
    one_task_s = single["latency"]["p50_ms"] / 1000 if single else None
    for level in results:
        if one_task_s:
            ideal = level["concurrency"] / one_task_s
            level["ideal_tasks_per_s"] = round(ideal, 3)
            level["achieved_of_ideal_pct"] = round(100 * level["tasks_per_s"] / ideal, 1)
        level["max_service_vmhwm_mb"] = max(m["vmhwm_after_level"] for m in level["memory_mb"].values())
    return {
        "latency_ms": latency_ms,
        "task": CAMPAIGN.shape,
        "task_text": CAMPAIGN.text,
        "one_task_latency_s_at_c1": one_task_s,
        "memory_method": (
            "VmHWM from /proc/<pid>/status read after each level (peak since the process started, so it only "
            "grows), and VmRSS sampled every 0.25 s during the level (peak of the samples)"
        ),
        "memory_mb_at_start": {n: round(m.get("VmRSS", 0) / 1024, 1) for n, m in baseline_memory.items()},
        "levels": results,
        "p50_of_levels": {r["concurrency"]: r["latency"].get("p50_ms") for r in results},
    }
