"""Faults for the loopback model providers, and a StreamTask watcher that applies text withdrawals.

``FaultMix`` is a seeded fault schedule: the fault of a request is drawn from the seed, the campaign's task and how
many requests that campaign has made so far. A campaign's model calls run one after another, so the schedule does
not depend on timing, nor on how concurrent campaigns interleave.
"""

from __future__ import annotations

import collections
import json
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from marketing.supervisor.v1 import supervisor_pb2

from tests.fakes.anthropic_server import as_openai_request
from tests.fakes.openai_server import Fault, brain, task_text, text_answer


def shaped(request: dict) -> dict:
    """A request in the OpenAI shape, whichever provider's format it came in."""
    return as_openai_request(request) if "max_tokens" in request else request  # ChatOpenAI sends none here


def task_of(request: dict) -> str:
    """The campaign task a model request works on."""
    return task_text(shaped(request))


def answers_with_text(request: dict) -> bool:
    """True when the fake's brain answers this request with text (not tool calls, not structured output)."""
    request = shaped(request)
    reply = brain(request)
    return not reply.tool_calls and not (request.get("response_format") or {}).get("type")


def expected_text(task: str) -> str:
    """The whole text answer the fake's brain writes for a campaign's task."""
    return text_answer({"messages": [{"role": "user", "content": f"<task>\n{task}\n</task>"}]})


def same_body(a: dict, b: dict) -> bool:
    """Two recorded requests carry the same body (a retry of the same call)."""
    return json.dumps({k: v for k, v in a.items() if not k.startswith("_")}, sort_keys=True) == json.dumps(
        {k: v for k, v in b.items() if not k.startswith("_")}, sort_keys=True
    )


def retry_waits(requests: list[dict], status: str = "429") -> list[tuple[float, float]]:
    """(asked, measured) seconds for each request answered ``status`` with a Retry-After whose call was retried on
    the same server: the time until the next request with the same body."""
    pairs = []
    for index, request in enumerate(requests):
        headers = {k.lower(): v for k, v in request.get("_fault_headers", {}).items()}
        if request.get("_fault") != status or not headers:
            continue
        asked = (
            float(headers["retry-after-ms"]) / 1000
            if "retry-after-ms" in headers
            else float(headers["retry-after"])
        )
        retry = next((r for r in requests[index + 1 :] if same_body(r, request)), None)
        if retry is not None:
            pairs.append((asked, retry["_received_at"] - request["_received_at"]))
    return pairs


@dataclass
class FaultMix:
    """A seeded fault schedule (see the module docstring).

    Attributes:
        seed: The seed.
        shares: Fault name to share of requests: an HTTP status ("429", "503", "529", "500") or a cut
            ("truncate", "drop", "corrupt", "error_event", "stall").
        retry_after_s: The delays 429s ask for (one drawn per 429).
        headers: The headers that ask for them (one drawn per 429): ``Retry-After`` in seconds (fractions too, so
            that the tests stay fast), OpenAI's ``retry-after-ms``.
        issued: How many faults of each name were issued.
    """

    seed: int
    shares: Mapping[str, float]
    retry_after_s: tuple[float, ...] = (0.1, 0.2, 0.3)
    headers: tuple[str, ...] = ("Retry-After", "retry-after-ms")
    issued: collections.Counter[str] = field(default_factory=collections.Counter)
    _seen: collections.Counter[str] = field(default_factory=collections.Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: dict) -> Fault | None:
        key = task_of(request)
        with self._lock:
            occurrence = self._seen[key]
            self._seen[key] += 1
        rng = random.Random(f"{self.seed}:{key}:{occurrence}")
        draw, total = rng.random(), 0.0
        for name, share in self.shares.items():
            total += share
            if draw < total:
                with self._lock:
                    self.issued[name] += 1
                return self._fault(name, rng)
        return None

    def _fault(self, name: str, rng: random.Random) -> Fault:
        if name.isdigit():
            status = int(name)
            if status != 429:
                return Fault(status)
            asked, header = rng.choice(self.retry_after_s), rng.choice(self.headers)
            value = str(int(asked * 1000)) if header == "retry-after-ms" else str(asked)
            return Fault(429, {header: value})
        return Fault(200, cut=name, after=rng.randint(1, 6), stall_s=5)


def scripted(cases: Iterable[tuple[Callable[[dict], bool], Fault]]) -> Callable[[dict], Fault | None]:
    """A plan that gives each fault to the first request matching its predicate (then that case is spent), one
    fault per model call: the retries of a call that got a fault get none."""
    pending = list(cases)
    faulted: set[str] = set()
    lock = threading.Lock()

    def plan(request: dict) -> Fault | None:
        body = json.dumps(request, sort_keys=True)
        with lock:
            if body in faulted:
                return None
            for index, (matches, fault) in enumerate(pending):
                if matches(request):
                    del pending[index]
                    faulted.add(body)
                    return fault
        return None

    plan.pending = pending  # type: ignore[attr-defined]
    return plan


class Watcher:
    """What a StreamTask caller sees: each agent's text, with withdrawals applied."""

    def __init__(self) -> None:
        self.text: dict[tuple[str, str], str] = collections.defaultdict(str)
        self.withdrawals: list[Any] = []
        self.events: list[supervisor_pb2.StreamTaskResponse] = []

    def apply(self, event: supervisor_pb2.StreamTaskResponse) -> None:
        self.events.append(event)
        kind = event.WhichOneof("event")
        if kind == "text_delta":
            self.text[(event.text_delta.team, event.text_delta.agent)] += event.text_delta.text
        elif kind == "text_withdrawn":
            withdrawn = event.text_withdrawn
            key = (withdrawn.team, withdrawn.agent)
            assert 0 < withdrawn.chars <= len(self.text[key]), "a withdrawal covers text that was streamed"
            self.text[key] = self.text[key][: len(self.text[key]) - withdrawn.chars]
            self.withdrawals.append(withdrawn)

    @property
    def workflow(self) -> supervisor_pb2.Workflow:
        assert self.events and self.events[-1].HasField("done"), "the stream ends with the finished workflow"
        return self.events[-1].done


async def watch(stub: Any, task: str, timeout_s: float = 90) -> Watcher:
    """Run a task through StreamTask and watch it to the end."""
    watcher = Watcher()
    async for event in stub.StreamTask(supervisor_pb2.StreamTaskRequest(task=task), timeout=timeout_s):
        watcher.apply(event)
    return watcher
