"""Model calls that never accept half an answer, against loopback providers that inject real faults.

Each provider (the OpenAI-compatible and the native Anthropic fake) is driven through the real client and the whole
in-process stack; every case asserts what the workflow and a StreamTask watcher end with: after applying the
``text_withdrawn`` events, the watcher holds exactly the final text of each agent, and no artifact holds a
truncated answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from prometheus_client import REGISTRY

from common.config import Settings
from common.errors import AnswerCutOffError
from common.llm.answers import WITHDRAWN
from common.llm.factory import ModelRole, build_chat_model
from common.llm.retry import RetryAfterOrBackoff, retry_after_s
from tests.conftest import in_process_stack, test_settings
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.llm_faults import (
    FaultMix,
    Watcher,
    answers_with_text,
    expected_text,
    retry_waits,
    same_body,
    scripted,
    watch,
)
from tests.fakes.openai_server import FakeOpenAIServer, Fault

# A stream the fake breaks on purpose leaves the HTTP client's byte iterator (httpx's AsyncResponseStream.__aiter__,
# under the provider SDK) suspended; the garbage collector finalizes it later, and now and then while it is being
# stepped, which Python reports as an unraisable "async generator already executing". It is the SDK's abandoned
# iterator, after the answer was already classified and retried; what these tests assert does not depend on it.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <async_generator object AsyncResponseStream.__aiter__"
    ":pytest.PytestUnraisableExceptionWarning"
)

TASK = "Launch campaign for our vector database: research, a blog article and LinkedIn posts"
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}
Server = FakeOpenAIServer | FakeAnthropicServer


def fake(kind: str) -> Server:
    return FakeOpenAIServer() if kind == "openai" else FakeAnthropicServer()


@pytest.fixture(params=["openai", "anthropic"])
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[str, Server]]:
    with fake(request.param) as server:
        yield request.param, server


def provider_settings(
    kind: str, server: Server, backup: tuple[str, Server] | None = None, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "llm_provider": kind,
        f"{kind}_base_url": server.base_url,
        f"{kind}_api_key": "test-key",
        "llm_model": MODELS[kind],
        "llm_timeout_s": 0.5,
        "llm_max_attempts": 3,
        "llm_retry_max_wait_s": 0.15,
        "llm_breaker_fail_max": 5,
        "llm_breaker_reset_timeout_s": 30.0,
    }
    if backup is not None:
        backup_kind, backup_server = backup
        values |= {"llm_backup_provider": backup_kind, "llm_backup_base_url": backup_server.base_url,
                   "llm_backup_api_key": "backup-key", "llm_backup_model": MODELS[backup_kind]}  # fmt: skip
    return test_settings(**(values | overrides))


async def stream_campaigns(settings: Settings, *tasks: str) -> list[Watcher]:
    async with in_process_stack(settings) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        return list(await asyncio.gather(*(watch(stub, task) for task in tasks)))


def assert_only_whole_answers(watcher: Watcher, task: str) -> None:
    """The watcher holds exactly each agent's final text, and every artifact with model text holds all of it."""
    whole = expected_text(task)
    assert watcher.text, "the writing workers streamed text"
    for (team, agent), text in watcher.text.items():
        assert text == whole, f"{team}/{agent}: the watcher kept {len(text)} of {len(whole)} characters"
    written = [a for a in watcher.workflow.artifacts if "# Fake model answer" in a.content]
    assert written, "model text reached the artifacts"
    for artifact in written:
        assert whole.strip() in artifact.content, f"{artifact.id} holds a truncated answer"
    writer = next(a for a in watcher.workflow.artifacts if a.agent == "writer")
    assert writer.content.strip() == watcher.text[("content", "writer")].strip()


def streams_text(request: dict) -> bool:
    return bool(request.get("stream")) and answers_with_text(request)


def routes(request: dict) -> bool:
    return not request.get("stream")


def faults_of(kind: str) -> list[tuple[Any, Fault]]:
    """One of every provider fault, each on its own model call."""
    header = {"retry-after-ms": "120"} if kind == "openai" else {"retry-after": "0.12"}
    return [
        (streams_text, Fault(200, cut="truncate", after=5)),
        (streams_text, Fault(200, cut="drop", after=5)),
        (streams_text, Fault(200, cut="corrupt", after=5)),
        (streams_text, Fault(200, cut="error_event", after=5)),
        (streams_text, Fault(200, cut="stall", after=5, stall_s=5)),
        (routes, Fault(429, header)),
        (routes, Fault(529 if kind == "anthropic" else 503)),
        (routes, Fault(500)),
        (routes, Fault(200, delay_s=2)),  # past the read timeout before the first byte
    ]


async def test_every_stream_fault_is_retried_and_its_text_withdrawn(provider: tuple[str, Server]) -> None:
    kind, server = provider
    server.plan = plan = scripted(faults_of(kind))
    [watcher] = await stream_campaigns(provider_settings(kind, server), TASK)

    workflow = watcher.workflow
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, list(workflow.warnings)
    assert not plan.pending, "every fault was injected"  # type: ignore[attr-defined]
    assert_only_whole_answers(watcher, TASK)
    assert len(watcher.withdrawals) == 5, "each broken text stream was withdrawn once"
    assert {w.team for w in watcher.withdrawals} <= {"research", "content", "social"}
    faulted = [r for r in server.requests if r["_fault"]]
    assert len(faulted) == 9
    for request in faulted:
        assert any(same_body(r, request) for r in server.requests if r is not request), "the call was retried"
    [(asked, waited)] = retry_waits(server.requests)
    assert waited >= asked == 0.12
    assert [m.model for m in workflow.usage.models] == [MODELS[kind]]
    reasons = [w.reason for w in watcher.withdrawals]
    if kind == "anthropic":  # what broke, by name (the OpenAI SDK reports drops and stalls as its own errors)
        kinds = sorted(r.split("(", 1)[1].split(")", 1)[0] for r in reasons)
        assert kinds == ["corrupt_chunk", "dropped", "no_finish_reason", "stalled", "stream_error"]
    else:
        assert sum("IncompleteAnswerError" in r for r in reasons) == 3  # truncated, corrupt, error event
        assert any("Connection" in r for r in reasons) and any("Timeout" in r for r in reasons)


async def test_an_answer_cut_at_its_token_limit_fails_the_step_and_says_so() -> None:
    kind, finish_reason = "anthropic", "max_tokens"

    def writes_the_article(request: dict) -> bool:
        return streams_text(request) and "content team's writer" in str(request)

    with fake(kind) as server, fake(kind) as backup:
        server.plan = scripted([(writes_the_article, Fault(200, finish_reason=finish_reason))])
        cut_off = (
            REGISTRY.get_sample_value(
                "marketing_model_answers_cut_off_total",
                {"model": MODELS[kind], "finish_reason": finish_reason},
            )
            or 0
        )
        [watcher] = await stream_campaigns(provider_settings(kind, server, backup=(kind, backup)), TASK)

    workflow = watcher.workflow
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_DEGRADED
    [warning] = [w for w in workflow.warnings if "writer" in w]
    assert "content/writer failed: AnswerCutOffError" in warning and repr(finish_reason) in warning
    assert not [a for a in workflow.artifacts if a.agent == "writer"], "half an article is never an artifact"
    assert watcher.text[("content", "writer")] == "", "its streamed text was withdrawn"
    assert [w.agent for w in watcher.withdrawals] == ["writer"]
    article_calls = [r for r in server.requests if writes_the_article(r)]
    assert len(article_calls) == 1, "a cut-off answer is not retried"
    assert not backup.requests, "nor sent to the backup"
    assert (
        REGISTRY.get_sample_value(
            "marketing_model_answers_cut_off_total", {"model": MODELS[kind], "finish_reason": finish_reason}
        )
        == cut_off + 1
    )


@pytest.mark.parametrize("stream", [True, False])
async def test_an_openai_answer_cut_at_length_is_neither_retried_nor_sent_to_the_backup(stream: bool) -> None:
    with FakeOpenAIServer() as server, FakeOpenAIServer() as backup:
        server.script(Fault(200, finish_reason="length"))
        model = build_chat_model(
            provider_settings("openai", server, backup=("openai", backup)), ModelRole.WORKER, None
        )  # type: ignore[arg-type]
        with pytest.raises(AnswerCutOffError, match="'length'"):
            if stream:
                [c async for c in model.astream([HumanMessage("<task>x</task>")])]
            else:
                await model.ainvoke([HumanMessage("<task>x</task>")])
        assert (len(server.requests), len(backup.requests)) == (1, 0)


async def test_a_seeded_fault_mix_leaves_no_half_answers_and_waits_what_429s_ask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tasks = [f"{TASK} (campaign {n})" for n in range(1, 6)]
    mix = FaultMix(
        seed=14,
        shares={"429": 0.15, "503": 0.10, "truncate": 0.10, "drop": 0.05, "corrupt": 0.05},
        retry_after_s=(0.05, 0.1, 0.15),
    )
    decided: list[tuple[float | None, float]] = []  # (what the provider asked, what the client chose to wait)
    policy = RetryAfterOrBackoff.__call__

    def recorded(self: RetryAfterOrBackoff, state: Any) -> float:
        wait = policy(self, state)
        decided.append((retry_after_s(state.outcome.exception()), wait))
        return wait

    monkeypatch.setattr(RetryAfterOrBackoff, "__call__", recorded)
    with FakeOpenAIServer() as primary, FakeOpenAIServer() as backup:
        primary.plan = mix
        settings = provider_settings("openai", primary, backup=("openai", backup), llm_max_attempts=4)
        started = time.monotonic()
        watchers = await stream_campaigns(settings, *tasks)
        elapsed = time.monotonic() - started

    for task, watcher in zip(tasks, watchers, strict=True):
        assert watcher.workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, list(
            watcher.workflow.warnings
        )
        assert_only_whole_answers(watcher, task)
    assert all(mix.issued[name] > 0 for name in mix.shares), f"every kind of fault happened: {mix.issued}"
    faulted = sum(mix.issued.values())
    assert 0.3 < faulted / len(primary.requests) < 0.6, "about 45% of the primary's requests failed"
    assert sum(len(w.withdrawals) for w in watchers) >= 1
    cap = settings.llm_retry_max_wait_s
    asked_for = [(asked, wait) for asked, wait in decided if asked is not None]
    assert len(asked_for) >= 5 and all(wait == asked <= cap for asked, wait in asked_for), (
        "Retry-After, as asked"
    )
    assert all(0 < wait <= cap for _, wait in decided), "no wait beyond LLM_RETRY_MAX_WAIT_S"
    measured = retry_waits(primary.requests)
    assert len(measured) >= 5
    assert all(waited >= asked for asked, waited in measured), "the retry came no sooner than asked"
    print(f"fault mix: {dict(mix.issued)} = {faulted} faults in {len(primary.requests)} primary requests, "
          f"{len(backup.requests)} backup requests, {sum(len(w.withdrawals) for w in watchers)} withdrawals, "
          f"{elapsed:.1f}s; 429 waits (asked, measured): {[(a, round(w, 3)) for a, w in measured]}")  # fmt: skip


async def test_a_streamed_call_is_retried_mid_stream_only_where_its_text_can_be_withdrawn() -> None:
    """``ProviderChain.astream``: before the first chunk a failure is retried; after it, only inside a graph, where
    the withdrawal reaches the graph's stream; a caller outside one gets the error instead of two attempts mixed."""
    with FakeOpenAIServer() as server:
        model = build_chat_model(provider_settings("openai", server), ModelRole.WORKER, None)  # type: ignore[arg-type]
        server.script(Fault(429, {"retry-after-ms": "10"}))
        chunks = [c async for c in model.astream([HumanMessage("<task>x</task>")])]
        assert "".join(str(c.content) for c in chunks) == expected_text("x") and len(server.requests) == 2

        server.script(Fault(200, cut="drop", after=5))
        with pytest.raises(openai.APIConnectionError):
            [c async for c in model.astream([HumanMessage("<task>x</task>")])]
        assert len(server.requests) == 3, "not retried outside a graph"

        async def writer(state: dict) -> dict:
            return {
                "text": "".join(
                    [str(c.content) async for c in model.astream([HumanMessage("<task>x</task>")])]
                )
            }

        graph = (
            StateGraph(dict)
            .add_node("writer", writer)
            .add_edge(START, "writer")
            .add_edge("writer", END)
            .compile()
        )
        server.script(Fault(200, cut="drop", after=5))
        seen = [item async for item in graph.astream({}, stream_mode=["custom", "values"])]
        [withdrawn] = [chunk[WITHDRAWN] for mode, chunk in seen if mode == "custom"]
        whole = expected_text("x")
        assert withdrawn["agent"] == "writer" and withdrawn["chars"] == len("# Fake model answer\n\n")
        assert seen[-1][1]["text"] == whole[: withdrawn["chars"]] + whole, "both attempts reached this caller"
        assert len(server.requests) == 5, "retried inside the graph"
