"""A candidate fix, measured by monkeypatching this process only (``python -m benchmarks --profile``).

The profile shows every routing decision building a new pydantic model (``route_schema``) and a new structured-output
runnable, and every worker run converting its tools to OpenAI format again (``bind_tools``), each time through
pydantic's JSON-schema generation. The patch memoises the three, which is what a fix in the core code would do:

- ``common.routing.route_schema``: one model class per tuple of options (an ``functools.lru_cache`` on a tuple);
- ``with_structured_output`` of the router's model: one runnable per schema class (cache in ``Router``);
- ``bind_tools`` of a worker's model: one bound runnable per worker and ``tool_choice`` (bind once when the team
  graph is built).

The patch can be switched on and off, so the A/B runs alternate in one process.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.stacks import InProcessStack
from benchmarks.tasks import TASKS


class CachingPatch:
    """Memoises ``route_schema``, ``with_structured_output`` and ``bind_tools`` while ``enabled``."""

    def __init__(self) -> None:
        self.enabled = False
        self._schemas: dict[tuple[str, ...], Any] = {}
        self._structured: dict[tuple[int, Any, bool], Any] = {}
        self._bound: dict[tuple[int, tuple[int, ...], Any], Any] = {}

    def install(self) -> None:
        """Wrap the three functions (idempotent in effect: the originals are kept)."""
        from common import routing
        from common.llm.offline import OfflineChatModel

        patch = self
        original_schema = routing.route_schema
        original_structured = OfflineChatModel.with_structured_output
        original_bind = OfflineChatModel.bind_tools

        def route_schema(options: Sequence[str]) -> Any:
            if not patch.enabled:
                return original_schema(options)
            key = tuple(options)
            if key not in patch._schemas:
                patch._schemas[key] = original_schema(options)
            return patch._schemas[key]

        def with_structured_output(
            self: Any, schema: Any, *, include_raw: bool = False, **kwargs: Any
        ) -> Any:
            if not patch.enabled or kwargs:
                return original_structured(self, schema, include_raw=include_raw, **kwargs)
            key = (id(self), schema, include_raw)
            if key not in patch._structured:
                patch._structured[key] = original_structured(self, schema, include_raw=include_raw)
            return patch._structured[key]

        def bind_tools(self: Any, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
            if not patch.enabled or kwargs:
                return original_bind(self, tools, tool_choice=tool_choice, **kwargs)
            key = (id(self), tuple(id(t) for t in tools), tool_choice)
            if key not in patch._bound:
                patch._bound[key] = original_bind(self, tools, tool_choice=tool_choice)
            return patch._bound[key]

        routing.route_schema = route_schema  # type: ignore[assignment]
        OfflineChatModel.with_structured_output = with_structured_output  # type: ignore[method-assign]
        OfflineChatModel.bind_tools = bind_tools  # type: ignore[method-assign]


async def ab_caching(rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    """In-process latency of every task at 0 ms with the caching patch off and on, alternating by round."""
    patch = CachingPatch()
    patch.install()
    stack = InProcessStack(0)
    await stack.start()
    try:
        return await _ab(stack, patch, rounds, log)
    finally:
        await stack.stop()


async def _ab(
    stack: InProcessStack, patch: CachingPatch, rounds: int, log: Callable[[str], None]
) -> dict[str, Any]:
    for enabled in (False, True, False, True):  # warm-up, both ways
        patch.enabled = enabled
        for task in TASKS:
            await stack.run(task.text)
    log(f"  caching what-if: {rounds} rounds of {len(TASKS)} tasks, patch off and on alternately")
    samples: dict[tuple[bool, str], list[float]] = {}
    cpu: dict[bool, float] = {False: 0.0, True: 0.0}
    for round_index in range(rounds):
        for enabled in (False, True) if round_index % 2 == 0 else (True, False):
            patch.enabled = enabled
            for task in TASKS:
                started, cpu_started = time.perf_counter(), time.process_time()
                await stack.run(task.text)
                samples.setdefault((enabled, task.shape), []).append(time.perf_counter() - started)
                cpu[enabled] += time.process_time() - cpu_started
    patch.enabled = False
    rows = {}
    for task in TASKS:
        off = statistics.median(samples[(False, task.shape)]) * 1000
        on = statistics.median(samples[(True, task.shape)]) * 1000
        rows[task.shape] = {
            "off_p50_ms": round(off, 2),
            "on_p50_ms": round(on, 2),
            "saved_pct": round(100 * (1 - on / off), 1),
        }
    runs = rounds * len(TASKS)
    return {
        "rounds": rounds,
        "tasks": rows,
        "cpu_ms_per_task_off": round(1000 * cpu[False] / runs, 2),
        "cpu_ms_per_task_on": round(1000 * cpu[True] / runs, 2),
    }


def run_ab(rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    """``ab_caching`` in its own event loop."""
    return asyncio.run(ab_caching(rounds, log))
