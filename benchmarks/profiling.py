"""``python -m benchmarks --profile``: where the time of a task goes at 0 ms model latency.

Profiles (pyinstrument, sampling every 0.5 ms) the in-process composition in this process and, at the same time
in a second pass, each of the four service processes under sequential load (the processes start pyinstrument on
SIGUSR1 and save the session on SIGUSR2, through ``profile_hook/sitecustomize.py``, so start-up is not in the
profile). Writes, under ``benchmarks/.run/profile/``, each session (``*.pyisession``, open with ``pyinstrument
--load``), a text call tree (``*.txt``) and ``summary.md``: self time by library and the functions with the most
inclusive time. ``benchmarks/PROFILE.md`` holds the findings drawn from them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.stacks import RUN_DIR, InProcessStack, ProcessStack, configure_in_process_observability
from benchmarks.tasks import TASKS
from common.teams import TEAMS

PROFILE_DIR = RUN_DIR / "profile"
ROUNDS = 20
WARMUP_ROUNDS = 2
PROJECT_DIRS = ("common", *(s.package for s in TEAMS.services()), "generated")


def area_of(file_path: str | None, function: str) -> str:
    """The library or project folder a frame belongs to."""
    if not file_path:
        return f"<{function}>"
    path = file_path.replace("\\", "/")
    if "site-packages/" in path:
        package = path.split("site-packages/", 1)[1].split("/", 1)[0]
        return package.removesuffix(".py")
    for folder in PROJECT_DIRS:
        if f"/{folder}/" in path:
            return f"project: {folder}"
    if "/benchmarks/" in path:
        return "benchmarks (driver)"
    name = Path(path).parent.name if Path(path).name == "__init__.py" else Path(path).stem
    if "/asyncio/" in path:
        return "stdlib: asyncio"
    return f"stdlib: {name}"


def is_idle(frame: Any) -> bool:
    """The event loop waiting in epoll (the selector's ``select`` and the ``epoll.poll`` call under it)."""
    if frame.function == "epoll.poll":
        return True
    return frame.function == "select" and "selectors" in (frame.file_path or "")


def analyse(session: Any, top: int = 25) -> dict[str, Any]:
    """Self time by area, idle time, and the functions with the most inclusive (non-recursive) time."""
    from pyinstrument.frame import SELF_TIME_FRAME_IDENTIFIER

    root = session.root_frame(trim_stem=False)
    by_area: Counter[str] = Counter()
    self_by_function: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    idle = 0.0

    def key_of(frame: Any) -> str:
        short = (frame.file_path or "").split("site-packages/")[-1].replace(str(Path.cwd()) + "/", "")
        return f"{frame.function} ({short}:{frame.line_no})"

    def walk(frame: Any, on_stack: frozenset[str]) -> None:
        nonlocal idle
        for child in frame.children:
            if child.identifier == SELF_TIME_FRAME_IDENTIFIER or child.identifier.startswith("["):
                if is_idle(frame):
                    idle += child.time
                else:
                    by_area[area_of(frame.file_path, frame.function)] += child.time
                    self_by_function[key_of(frame)] += child.time
                continue
            key = key_of(child)
            if key not in on_stack and not is_idle(child):
                inclusive[key] += child.time
            walk(child, on_stack | {key})

    if root is not None:
        walk(root, frozenset())
    busy = sum(by_area.values())
    return {
        "duration_s": session.duration,
        "sampled_s": (root.time if root else 0.0),
        "idle_s": idle,
        "busy_s": busy,
        "self_by_area": by_area.most_common(),
        "self_by_function": self_by_function.most_common(top),
        "inclusive": inclusive.most_common(top * 3),
    }


def render_summary(name: str, analysis: dict[str, Any], tasks: int, note: str) -> str:
    """One profile's summary as markdown."""
    busy = analysis["busy_s"] or 1e-9
    lines = [
        f"## {name}",
        "",
        f"{note} {tasks} tasks; sampled {analysis['sampled_s']:.2f} s, of which busy {analysis['busy_s']:.2f} s "
        f"({1000 * analysis['busy_s'] / max(tasks, 1):.1f} ms per task) and idle in the event loop "
        f"{analysis['idle_s']:.2f} s.",
        "",
        "| self time by area | s | % of busy |",
        "| --- | --- | --- |",
    ]
    for area, seconds in analysis["self_by_area"][:18]:
        lines.append(f"| {area} | {seconds:.3f} | {100 * seconds / busy:.1f} |")
    lines += ["", "| function (self time) | s | % of busy |", "| --- | --- | --- |"]
    for function, seconds in analysis["self_by_function"]:
        lines.append(f"| `{function}` | {seconds:.3f} | {100 * seconds / busy:.1f} |")
    lines += ["", "| function (inclusive time, outermost call) | s | % of busy |", "| --- | --- | --- |"]
    for function, seconds in analysis["inclusive"]:
        lines.append(f"| `{function}` | {seconds:.3f} | {100 * seconds / busy:.1f} |")
    return "\n".join(lines) + "\n"


def render_what_if(result: dict[str, Any]) -> str:
    """The caching experiment (benchmarks/whatif.py) as markdown."""
    lines = [
        "## What if: memoised route schemas, structured-output runnables and bound tools",
        "",
        f"In-process, 0 ms, {result['rounds']} rounds, patch off and on alternately (see benchmarks/whatif.py). "
        f"CPU per task: {result['cpu_ms_per_task_off']} ms off, {result['cpu_ms_per_task_on']} ms on.",
        "",
        "| task | p50 off ms | p50 on ms | saved |",
        "| --- | --- | --- | --- |",
    ]
    for task, row in result["tasks"].items():
        lines.append(f"| {task} | {row['off_p50_ms']} | {row['on_p50_ms']} | {row['saved_pct']}% |")
    return "\n".join(lines) + "\n"


def _save(session: Any, name: str, keep_session: bool = True) -> None:
    from pyinstrument.renderers import ConsoleRenderer

    if keep_session:
        session.save(str(PROFILE_DIR / f"{name}.pyisession"))
    text = ConsoleRenderer(unicode=False, color=False, show_all=False, short_mode=False).render(session)
    (PROFILE_DIR / f"{name}.txt").write_text(text)


async def _in_process(log: Callable[[str], None]) -> tuple[Any, int]:
    from pyinstrument import Profiler

    stack = InProcessStack(0)
    await stack.start()
    try:
        for _ in range(WARMUP_ROUNDS):
            for task in TASKS:
                await stack.run(task.text)
        log(f"  profiling the in-process composition: {ROUNDS} rounds of {len(TASKS)} tasks")
        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        for _ in range(ROUNDS):
            for task in TASKS:
                await stack.run(task.text)
        return profiler.stop(), ROUNDS * len(TASKS)
    finally:
        await stack.stop()


async def _processes(log: Callable[[str], None]) -> tuple[dict[str, Any], int]:
    from pyinstrument.session import Session

    stack = ProcessStack(0, profiled=(TEAMS.supervisor.name, *TEAMS.names))
    await stack.start()
    try:
        for _ in range(WARMUP_ROUNDS):
            for task in TASKS:
                await stack.run(task.text)
        for pid in stack.pids.values():
            os.kill(pid, signal.SIGUSR1)
        await asyncio.sleep(0.2)
        log(f"  profiling the four service processes: {ROUNDS} rounds of {len(TASKS)} tasks over gRPC")
        for _ in range(ROUNDS):
            for task in TASKS:
                await stack.run(task.text)
        for pid in stack.pids.values():
            os.kill(pid, signal.SIGUSR2)
        paths = {name: PROFILE_DIR / f"service_{name}.pyisession" for name in stack.pids}
        for _ in range(150):  # the sessions are written by the signal handlers; allow 30 s
            if all(p.exists() for p in paths.values()):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
    finally:
        await stack.stop()
    sessions = {name: Session.load(str(path)) for name, path in paths.items() if path.exists()}
    return sessions, ROUNDS * len(TASKS)


def profile(log: Callable[[str], None]) -> int:
    """Run both profiles and write the sessions, call trees and summary."""
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    for stale in PROFILE_DIR.glob("*.pyisession"):
        stale.unlink()
    configure_in_process_observability(RUN_DIR / "profile-inprocess.log")
    in_process, tasks = asyncio.run(_in_process(log))
    _save(in_process, "in_process")
    sections = [
        render_summary(
            "In-process composition (benchmark process)",
            analyse(in_process),
            tasks,
            "Supervisor graph and team graphs in one process, no gRPC, tasks one at a time:",
        )
    ]
    services, tasks = asyncio.run(_processes(log))
    for name, session in services.items():
        _save(session, f"service_{name}", keep_session=False)  # the service saved it
        sections.append(
            render_summary(
                f"{name} service process",
                analyse(session),
                tasks,
                "The service's main thread while the four processes served, one at a time:",
            )
        )
    from benchmarks.whatif import run_ab

    what_if = run_ab(20, log)
    (PROFILE_DIR / "whatif.json").write_text(json.dumps(what_if, indent=2) + "\n")
    sections.append(render_what_if(what_if))
    summary = "# Profile data (python -m benchmarks --profile)\n\n" + "\n".join(sections)
    (PROFILE_DIR / "summary.md").write_text(summary)
    print(summary)
    log(f"wrote {PROFILE_DIR}/summary.md, *.txt (call trees) and *.pyisession (pyinstrument --load)")
    return 0 if len(services) == 4 else 1
