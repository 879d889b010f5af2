"""Machine information, target checks and the markdown report."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from common.teams import TEAMS

SERVICE_NAMES = (TEAMS.supervisor.name, *TEAMS.names)

# The targets.
MAX_RATIO_AT_50MS = 1.05
MAX_HOP_MS = 3.0
MIN_THROUGHPUT_PCT = 70.0
MAX_SERVICE_RSS_MB = 300.0
TARGET_CONCURRENCY = 256


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, Python and library versions, date."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    versions = {}
    for package in ("grpcio", "protobuf", "langgraph", "langchain-core", "pyinstrument"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu_model": cpu,
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_total_gb": round(memory_kb / 1024 / 1024, 1),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "packages": versions,
    }


def _target(name: str, threshold: str, measured: str, met: bool | None, detail: str = "") -> dict[str, Any]:
    return {"target": name, "threshold": threshold, "measured": measured, "met": met, "detail": detail}


def _latency_ratio_target(at50: dict[str, Any]) -> dict[str, Any]:
    """Distributed / in-process p50 latency at 50 ms, worst task against the target."""
    worst = at50["summary"]["ratio_p50_worst"]
    worst_task = max(at50["tasks"], key=lambda r: r["ratio_p50"])["task"]
    return _target(
        "distributed / in-process p50 latency at 50 ms",
        f"<= {MAX_RATIO_AT_50MS}",
        f"{worst:.3f} (worst task: {worst_task}; all tasks together {at50['summary']['ratio_p50_all_tasks']:.3f})",
        worst <= MAX_RATIO_AT_50MS,
        f"{(worst - MAX_RATIO_AT_50MS) * 100:+.1f} points against the target",
    )


def _team_hop_target(at50: dict[str, Any], at0: dict[str, Any] | None) -> dict[str, Any]:
    """Added time per team hop at 50 ms, worst task, with the 0 ms figure when there is one."""
    hop = at50["summary"]["added_per_team_hop_p50_ms_worst"]
    hop_task = max(at50["tasks"], key=lambda r: r["added_per_team_hop_p50_ms"])["task"]
    hop0 = f"; at 0 ms: worst {at0['summary']['added_per_team_hop_p50_ms_worst']:.2f} ms" if at0 else ""
    return _target(
        "added time per team hop, p50, at 50 ms",
        f"<= {MAX_HOP_MS} ms",
        f"{hop:.2f} ms (worst task: {hop_task}; all tasks together "
        f"{at50['summary']['added_per_team_hop_p50_ms_all_tasks']:.2f} ms{hop0})",
        hop <= MAX_HOP_MS,
        f"{hop - MAX_HOP_MS:+.2f} ms against the target",
    )


def _throughput_target(top: dict[str, Any]) -> dict[str, Any]:
    """Achieved throughput at the target concurrency as a share of the ideal."""
    pct = top.get("achieved_of_ideal_pct")
    return _target(
        f"throughput at {TARGET_CONCURRENCY} concurrent, 200 ms model latency",
        f">= {MIN_THROUGHPUT_PCT:.0f}% of ideal",
        f"{pct}% ({top['tasks_per_s']} of {top.get('ideal_tasks_per_s')} tasks/s)",
        pct is not None and pct >= MIN_THROUGHPUT_PCT,
        f"{(pct or 0) - MIN_THROUGHPUT_PCT:+.1f} points against the target",
    )


def _errors_target(top: dict[str, Any]) -> dict[str, Any]:
    """No failed task at the target concurrency."""
    return _target(
        f"errors at {TARGET_CONCURRENCY} concurrent",
        "0",
        f"{top['errors']} of {top['tasks']} tasks" + (f" {top['error_kinds']}" if top["errors"] else ""),
        top["errors"] == 0,
    )


def _memory_target(top: dict[str, Any]) -> dict[str, Any]:
    """Peak resident memory (VmHWM) of the largest service after the target concurrency level."""
    worst_name, worst_mem = max(
        ((n, m["vmhwm_after_level"]) for n, m in top["memory_mb"].items()), key=lambda x: x[1]
    )
    return _target(
        "peak resident memory per service (VmHWM)",
        f"< {MAX_SERVICE_RSS_MB:.0f} MB",
        f"{worst_mem:.0f} MB ({worst_name})",
        worst_mem < MAX_SERVICE_RSS_MB,
        f"{worst_mem - MAX_SERVICE_RSS_MB:+.0f} MB against the target",
    )


def _router_calls_target(efficiency: dict[str, Any]) -> dict[str, Any]:
    """Supervisor router calls per task against one per team needed plus the final one."""
    excess = {
        t: e["max_across_runs"]["supervisor_router_calls"] - (e["teams_needed"] + 1)
        for t, e in efficiency.items()
    }
    worst_task = max(excess, key=lambda t: excess[t])
    return _target(
        "supervisor router calls per task",
        "<= teams needed + 1",
        ", ".join(
            f"{t}: {e['max_across_runs']['supervisor_router_calls']}/{e['teams_needed'] + 1}"
            for t, e in efficiency.items()
        ),
        excess[worst_task] <= 0,
        f"worst excess {excess[worst_task]:+d} call(s) ({worst_task})",
    )


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue, met or missed, with the measured figure and the margin."""
    targets = []
    at50 = results["overhead"].get("50ms")
    if at50:
        targets.append(_latency_ratio_target(at50))
        targets.append(_team_hop_target(at50, results["overhead"].get("0ms")))
    levels = {level["concurrency"]: level for level in results.get("throughput", {}).get("levels", [])}
    top = levels.get(TARGET_CONCURRENCY)
    if top:
        targets.append(_throughput_target(top))
        targets.append(_errors_target(top))
        targets.append(_memory_target(top))
    efficiency = results.get("efficiency", {})
    if efficiency:
        targets.append(_router_calls_target(efficiency))
    return targets


def _yes(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**missed**")


def _header_lines(results: dict[str, Any]) -> list[str]:
    """Title, machine line and how the run was made."""
    machine = results["machine"]
    return [
        "# Benchmark results",
        "",
        f"{machine['date']} · {machine['cpu_model']} · {machine['cpu_cores']} cores · "
        f"{machine['memory_total_gb']} GB · {machine['python']} · "
        + ", ".join(f"{k} {v}" for k, v in machine["packages"].items()),
        "",
        f"Offline model (`LLM_PROVIDER=offline`), simulated latency per model call `OFFLINE_LLM_LATENCY_MS`. "
        f"Whole run: {results['duration_s']:.0f} s. Regenerate with `make bench`.",
        "",
    ]


def _targets_lines(targets: list[dict[str, Any]]) -> list[str]:
    """The targets section: one table row per target."""
    lines = [
        "## Targets",
        "",
        "| target | threshold | measured | result |",
        "| --- | --- | --- | --- |",
    ]
    for t in targets:
        measured = t["measured"] + (f" ({t['detail']})" if t["detail"] else "")
        lines.append(f"| {t['target']} | {t['threshold']} | {measured} | {_yes(t['met'])} |")
    return lines


def _overhead_lines(overhead: dict[str, Any]) -> list[str]:
    """The overhead section's latency table: a row per latency and task, and one for all tasks."""
    lines = [
        "",
        "## Orchestration overhead: four processes over gRPC vs the same graphs in one process",
        "",
        "Latency of one task seen by the caller: `RunTask` over loopback to the four service processes, vs the "
        "same four services built in the benchmark process by their own `build()` (stores and checkpointers "
        "included, SQLite under benchmarks/.run/) and called through their gRPC handlers directly: the "
        "supervisor's `RunTask` handler, its team clients replaced by callers of the teams' `StreamBrief` "
        "handlers (no network, no serialization, no interceptors). Tasks run one at a time, both stacks "
        "interleaved. Added per team hop = (distributed p50 - in-process p50) / team calls; the paired column is "
        "the median over repetitions of (distributed - in-process) / team calls of runs made back to back.",
        "",
        "| model latency | task | team calls | distributed p50 / p95 ms | in-process p50 / p95 ms | ratio p50 | "
        "ratio p95 | added per team hop p50 ms | paired ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, run in overhead.items():
        for row in run["tasks"]:
            d, i = row["distributed"], row["in_process"]
            lines.append(
                f"| {key} | {row['task']} | {row['team_calls']} | {d['p50_ms']:.1f} / {d['p95_ms']:.1f} | "
                f"{i['p50_ms']:.1f} / {i['p95_ms']:.1f} | {row['ratio_p50']:.3f} | {row['ratio_p95']:.3f} | "
                f"{row['added_per_team_hop_p50_ms']:.2f} | {row['added_per_team_hop_paired_median_ms']:.2f} |"
            )
        s = run["summary"]
        lines.append(
            f"| {key} | **all tasks** | | | | {s['ratio_p50_all_tasks']:.3f} | | "
            f"{s['added_per_team_hop_p50_ms_all_tasks']:.2f} | |"
        )
    return lines


def _overhead_cpu_lines(at0: dict[str, Any]) -> list[str]:
    """CPU time per task at 0 ms, by process, distributed against in-process."""
    names = [TEAMS.supervisor.name, *TEAMS.names, "client"]
    lines = [
        "",
        "CPU time per task at 0 ms (user + system, ms; services from /proc/<pid>/stat, the benchmark process "
        "from `time.process_time()`):",
        "",
        "| task | distributed: "
        + " / ".join(names)
        + " | distributed total | in-process total | extra CPU |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in at0["tasks"]:
        dist, local = row["cpu_ms_per_run"]["distributed"], row["cpu_ms_per_run"]["in_process"]
        dist_total, local_total = sum(dist.values()), sum(local.values())
        lines.append(
            f"| {row['task']} | {' / '.join(f'{dist.get(n, 0):.1f}' for n in names)} | {dist_total:.1f} | "
            f"{local_total:.1f} | {dist_total - local_total:+.1f} ({dist_total / local_total:.2f}x) |"
        )
    return lines


def _repetitions_lines(overhead: dict[str, Any]) -> list[str]:
    """How many runs each overhead measurement made, after how many warm-up rounds."""
    reps = ", ".join(f"{k}: {v['repetitions']} runs per task and stack" for k, v in overhead.items())
    return [
        "",
        f"Repetitions: {reps}, after {next(iter(overhead.values()))['warmup_rounds']} warm-up round(s).",
    ]


def _throughput_lines(tp: dict[str, Any]) -> list[str]:
    """The throughput section's table (a row per concurrency level) and the RSS at start."""
    lines = [
        "",
        f"## Throughput: process stack, {tp['latency_ms']} ms model latency, task `{tp['task']}`",
        "",
        f"Closed loop: N clients (grpc.aio, one channel) each run tasks back to back. Ideal = concurrency / "
        f"latency of one task at concurrency 1 ({tp['one_task_latency_s_at_c1']:.2f} s). Memory: "
        f"{tp['memory_method']}.",
        "",
        "| concurrency | tasks | errors | tasks/s | ideal tasks/s | achieved/ideal | p50 ms | p95 ms | "
        f"VmHWM MB {' / '.join(SERVICE_NAMES)} |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for level in tp["levels"]:
        mem = level["memory_mb"]
        hwm = " / ".join(f"{mem[n]['vmhwm_after_level']:.0f}" for n in SERVICE_NAMES if n in mem)
        lat = level["latency"]
        lines.append(
            f"| {level['concurrency']} | {level['tasks']} | {level['errors']} | {level['tasks_per_s']:.2f} | "
            f"{level.get('ideal_tasks_per_s', float('nan')):.2f} | {level.get('achieved_of_ideal_pct', 'n/a')}% | "
            f"{lat.get('p50_ms', float('nan')):.0f} | {lat.get('p95_ms', float('nan')):.0f} | {hwm} |"
        )
    start = tp["memory_mb_at_start"]
    lines += ["", "RSS at start (MB): " + ", ".join(f"{n} {v:.0f}" for n, v in start.items()) + "."]
    return lines


def _throughput_cpu_lines(tp: dict[str, Any], machine: dict[str, Any]) -> list[str]:
    """CPU time per task at each throughput level, how busy the cores were and the CPU-bound ceiling."""
    names = list(tp["levels"][0]["cpu_ms_per_task"])
    lines = [
        "",
        "CPU time per task (user + system, from /proc/<pid>/stat, ms) and how busy the machine's cores were:",
        "",
        "| concurrency | " + " | ".join(names) + " | total | cores busy | CPU-bound ceiling |",
        "| --- | " + " | ".join("---" for _ in names) + " | --- | --- | --- |",
    ]
    cores = machine["cpu_cores"] or 1
    for level in tp["levels"]:
        per_task = level["cpu_ms_per_task"]
        total = sum(per_task.values())
        ceiling = cores * 1000 / total if total else float("nan")
        lines.append(
            f"| {level['concurrency']} | "
            + " | ".join(f"{per_task[n]:.0f}" for n in names)
            + f" | {total:.0f} | {level['cpu_utilisation_pct']:.0f}% | {ceiling:.1f} tasks/s"
            + (
                f" ({100 * ceiling / level['ideal_tasks_per_s']:.0f}% of ideal)"
                if ceiling < level.get("ideal_tasks_per_s", 0)
                else ""
            )
            + " |"
        )
    lines += [
        "",
        "CPU-bound ceiling = cores / CPU per task: the most this machine could do at that CPU cost. At low "
        "concurrency the CPU per task also holds idle background work (workflow heartbeats, the RSS sampler).",
    ]
    return lines


def _efficiency_lines(eff: dict[str, Any]) -> list[str]:
    """The model calls and tokens section: a row per task, where the figures came from, whether runs agreed."""
    lines = [
        "",
        "## Model calls and tokens per task",
        "",
        "Supervisor router calls against the minimum (one per team needed plus the final one); team-lead "
        "routing calls against theirs (one per worker that ran plus the final one, per team); worker calls "
        "(tool-calling rounds included).",
        "",
        "| task | teams | supervisor router calls (min) | team-lead router calls (min) | worker calls | total calls "
        "| router tokens | team-lead tokens | worker tokens | total tokens |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for task, e in eff.items():
        lines.append(
            f"| {task} | {e['teams_called']} | {e['supervisor_router_calls']} ({e['supervisor_router_calls_min']}) | "
            f"{e['team_lead_router_calls']} ({e['team_lead_router_calls_min']}) | {e['worker_calls']} | "
            f"{e['total_calls']} | {e['supervisor_router_tokens']} | {e['team_lead_router_tokens']} | "
            f"{e['worker_tokens']} | {e['total_tokens']} |"
        )
    sources = {e["step_usage_source"] for e in eff.values()}
    same = all(e["identical_across_runs"] for e in eff.values())
    lines += [
        "",
        f"Team-lead figures from: {', '.join(sorted(sources))}. Every run of a task gave the same figures: "
        f"{'yes' if same else 'no (the table shows the first run; results.json has the maximum)'}.",
    ]
    if any(e["workflow_step_usage_calls"] == 0 for e in eff.values()):
        lines.append(
            "Note: `Workflow.team_runs[].steps[].usage` was empty in every workflow (the supervisor drops "
            "per-step usage when it converts a team's result), so these come from `StreamTask` events."
        )
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The whole report as markdown."""
    lines = _header_lines(results) + _targets_lines(results["targets"])
    lines += _overhead_lines(results["overhead"])
    at0 = results["overhead"].get("0ms")
    if at0:
        lines += _overhead_cpu_lines(at0)
    lines += _repetitions_lines(results["overhead"])
    tp = results.get("throughput")
    if tp:
        lines += _throughput_lines(tp)
        lines += _throughput_cpu_lines(tp, results["machine"])
    eff = results.get("efficiency")
    if eff:
        lines += _efficiency_lines(eff)
    if results.get("queue"):
        from benchmarks.queue import queue_lines

        lines += queue_lines(results["queue"])
    for note in results.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"
