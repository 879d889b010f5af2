"""``python -m benchmarks``: run the benchmarks, write ``results.json`` and ``RESULTS.md``, print the table.

Exit status: 0 when the benchmarks ran (whether or not the targets are met), 1 when the stack did not start or a
task failed while tasks ran one at a time (the overhead runs, throughput at concurrency 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent


def log(message: str) -> None:
    """Progress on stderr, so stdout carries the report."""
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", action="store_true", help="profile the hot path instead (writes PROFILE data)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short smoke run (few repetitions, low concurrency)"
    )
    parser.add_argument(
        "--reps-0ms", type=int, default=20, help="runs per task and stack at 0 ms (default 20)"
    )
    parser.add_argument(
        "--reps-50ms", type=int, default=16, help="runs per task and stack at 50 ms (default 16)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="warm-up rounds before measuring (default 2)")
    parser.add_argument(
        "--levels", default="1,16,64,256", help="throughput concurrency levels (default 1,16,64,256)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="tasks per client at each throughput level above 1 (default 2)"
    )
    parser.add_argument(
        "--level-budget-s",
        type=float,
        default=150.0,
        help="no new task starts after this long at one throughput level (default 150)",
    )
    parser.add_argument(
        "--queue-only", action="store_true", help="only the queue section (writes queue_results.json)"
    )
    parser.add_argument(
        "--queue-tasks", type=int, default=200, help="tasks per queue measurement (default 200)"
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="where results.json and RESULTS.md go")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps_0ms, args.reps_50ms, args.warmup, args.levels = 3, 2, 1, "1,16"
        args.queue_tasks = 40
    return args


def write_results(results: dict[str, Any], out: Path) -> str:
    """Write results.json and RESULTS.md; return the markdown."""
    from benchmarks.report import check_targets, markdown

    results["targets"] = check_targets(results)
    text = markdown(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "RESULTS.md").write_text(text)
    return text


async def run(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    from benchmarks.report import machine_info
    from benchmarks.stacks import STACK_LIMITS, environment_summary, stack_environment
    from benchmarks.suites import efficiency, overhead, throughput
    from benchmarks.tasks import TASKS

    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": machine_info(),
        "config": {
            "stack_environment": stack_environment(0) | {"OFFLINE_LLM_LATENCY_MS": "0 | 50 | 200"},
            "limits_note": "generous limits so that no cap of the services bounds a benchmark task (see "
            f"benchmarks/stacks.py): {STACK_LIMITS}",
            "inherited_environment": environment_summary(),
            "tasks": {t.shape: {"text": t.text, "teams": list(t.teams)} for t in TASKS},
            "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        },
        "overhead": {},
    }
    workflows: dict[str, list[Any]] = {}
    streamed: dict[str, list[Any]] = {}
    status = 0

    def finish() -> dict[str, Any]:
        if workflows:
            results["efficiency"] = efficiency(workflows, streamed)
        results["duration_s"] = round(time.monotonic() - started, 1)
        return results

    for latency_ms, reps in ((0, args.reps_0ms), (50, args.reps_50ms)):
        log(f"overhead at {latency_ms} ms model latency ...")
        run_result = await overhead(latency_ms, reps, args.warmup, log, stream_steps=latency_ms == 0)
        for shape, items in run_result.pop("_workflows").items():
            workflows.setdefault(shape, []).extend(items)
        streamed.update(run_result.pop("_streamed_steps"))
        results["overhead"][f"{latency_ms}ms"] = run_result
        if run_result["summary"]["error_count"]:
            log(f"FAILED: {run_result['summary']['error_count']} task(s) failed at concurrency 1:")
            for row in run_result["tasks"]:
                for stack, errors in row["errors"].items():
                    for error in errors[:3]:
                        log(f"  {row['task']} ({stack}): {error}")
            return finish(), 1

    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    log(f"throughput at 200 ms model latency, concurrency {levels} ...")
    results["throughput"] = await throughput(levels, 200, args.rounds, args.level_budget_s, log)
    single = next((lv for lv in results["throughput"]["levels"] if lv["concurrency"] == 1), None)
    if single is not None and single["errors"]:
        log(f"FAILED: {single['errors']} task(s) failed at concurrency 1: {single['error_kinds']}")
        status = 1
    from benchmarks.queue import queue_suite

    results["queue"] = await queue_suite(log, args.queue_tasks)
    return finish(), status


def run_queue_only(args: argparse.Namespace) -> int:
    """``--queue-only``: the queue section alone, into queue_results.json, printed as markdown."""
    from benchmarks.queue import queue_lines, queue_suite

    results = asyncio.run(queue_suite(log, args.queue_tasks))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "queue_results.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(queue_lines(results)))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        from benchmarks.profiling import profile

        return profile(log)

    from benchmarks.stacks import RUN_DIR, configure_in_process_observability
    from benchmarks.tasks import check_routing_shapes

    check_routing_shapes()
    if args.queue_only:
        return run_queue_only(args)
    configure_in_process_observability(RUN_DIR / "inprocess.log")
    try:
        results, status = asyncio.run(run(args))
    except RuntimeError as exc:  # a service did not start (the launcher's message has its log's tail)
        log(f"FAILED: {exc}")
        return 1
    text = write_results(results, args.out)
    print(text)
    log(f"wrote {args.out / 'results.json'} and {args.out / 'RESULTS.md'} in {results['duration_s']:.0f} s")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
