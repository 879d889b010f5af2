"""Unit tests for common.llm.offline.OfflineChatModel and the workers' TemplateBehaviour."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from common.agents.offline_work import OfflineWork, TemplateBehaviour, tool_results
from common.agents.scope import WorkScope, work_scope
from common.errors import ModelOutputError
from common.llm.offline import (
    OFFLINE_MODEL_NAME,
    OFFLINE_NOTICE,
    OfflineChatModel,
    OfflineReply,
    estimate_tokens,
)

TEXT = "Hello world, this is a templated answer with several words."


@tool
def lookup(query: str) -> str:
    """Look something up."""
    return query


@tool
def count_words(text: str) -> int:
    """Count words."""
    return len(text.split())


def plan(work: OfflineWork) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("lookup", {"query": "vector databases"}),
        ("not_bound", {"x": 1}),
        ("count_words", {"text": "a b"}),
    ]


def render(work: OfflineWork) -> str:
    return f"{TEXT}\nResults: {list(work.tool_results)!r}   \n"


def worker_model(**kwargs: Any) -> OfflineChatModel:
    return OfflineChatModel(behaviour=TemplateBehaviour(render, plan), **kwargs)


PROMPT: list[BaseMessage] = [SystemMessage("You are a worker."), HumanMessage("Research vector databases")]


async def test_tool_calls_first_then_text_after_tool_message() -> None:
    model = worker_model().bind_tools([lookup, count_words])
    first = await model.ainvoke(PROMPT)
    assert first.content == ""
    # Planned calls to tools that are not bound are dropped.
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [
        ("lookup", {"query": "vector databases"}),
        ("count_words", {"text": "a b"}),
    ]
    assert all(c["id"] for c in first.tool_calls)
    assert len({c["id"] for c in first.tool_calls}) == 2
    assert first.response_metadata["finish_reason"] == "tool_calls"

    messages = [
        *PROMPT,
        first,
        ToolMessage('"found it"', tool_call_id=first.tool_calls[0]["id"], name="lookup"),
        ToolMessage("2", tool_call_id=first.tool_calls[1]["id"], name="count_words"),
    ]
    second = await model.ainvoke(messages)
    assert second.tool_calls == []
    assert isinstance(second.content, str)
    assert second.content.endswith(OFFLINE_NOTICE)
    # The render's trailing whitespace is stripped before the notice.
    assert "Results: [('lookup', 'found it'), ('count_words', 2)]" in second.content
    assert "('lookup', 'found it')" in second.content
    assert "('count_words', 2)" in second.content
    assert second.response_metadata["finish_reason"] == "stop"


async def test_without_bound_tools_writes_text_immediately() -> None:
    reply = await worker_model().ainvoke(PROMPT)
    assert reply.tool_calls == []
    assert isinstance(reply.content, str)
    assert reply.content.startswith(TEXT)
    assert reply.content.endswith(OFFLINE_NOTICE)


@pytest.mark.parametrize("choice", ["any", "required", "lookup"])
async def test_forced_tool_choice_with_text_behaviour_raises(choice: str) -> None:
    model = OfflineChatModel(behaviour=TemplateBehaviour(render)).bind_tools([lookup], tool_choice=choice)
    with pytest.raises(ModelOutputError):
        await model.ainvoke(PROMPT)


async def test_tool_choice_none_allows_text() -> None:
    model = worker_model().bind_tools([lookup], tool_choice="none")
    # The behaviour would call tools on the first turn; tool_choice=none is not "forced", so it is allowed to.
    reply = await model.ainvoke([*PROMPT, ToolMessage('"x"', tool_call_id="1", name="lookup")])
    assert reply.tool_calls == []
    assert isinstance(reply.content, str)
    assert reply.content.endswith(OFFLINE_NOTICE)


class Pick(BaseModel):
    """Pick a team."""

    team: str
    score: int


class StructuredBehaviour:
    def __init__(self) -> None:
        self.tools: list[dict[str, Any]] = []

    def respond(self, messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> OfflineReply:
        self.tools = list(tools)
        return OfflineReply(tool_calls=[(tools[0]["function"]["name"], {"team": "content", "score": 7})])


async def test_structured_output_ainvoke() -> None:
    behaviour = StructuredBehaviour()
    result = await OfflineChatModel(behaviour=behaviour).with_structured_output(Pick).ainvoke("pick one")
    assert result == Pick(team="content", score=7)
    assert [t["function"]["name"] for t in behaviour.tools] == ["Pick"]
    assert set(behaviour.tools[0]["function"]["parameters"]["properties"]) == {"team", "score"}


async def test_structured_output_astream_last_chunk_is_the_model() -> None:
    chunks = [
        c
        async for c in OfflineChatModel(behaviour=StructuredBehaviour())
        .with_structured_output(Pick)
        .astream("x")
    ]
    assert chunks
    assert chunks[-1] == Pick(team="content", score=7)


async def test_astream_chunks_concatenate_to_ainvoke_content() -> None:
    model = worker_model()
    whole = await model.ainvoke(PROMPT)
    chunks = [c async for c in model.astream(PROMPT)]
    text_chunks = [c.content for c in chunks if c.content]
    assert len(text_chunks) > 3
    assert "".join(str(c) for c in text_chunks) == whole.content


async def test_astream_aggregates_tool_calls_usage_and_metadata() -> None:
    model = worker_model().bind_tools([lookup])
    chunks = [c async for c in model.astream(PROMPT)]
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [("lookup", {"query": "vector databases"})]
    assert total.usage_metadata is not None
    assert total.usage_metadata["input_tokens"] > 0
    assert total.response_metadata["model_name"] == OFFLINE_MODEL_NAME


async def test_usage_and_response_metadata() -> None:
    reply = await worker_model().ainvoke(PROMPT)
    assert isinstance(reply, AIMessage)
    usage = reply.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["output_tokens"] == estimate_tokens(str(reply.content))
    assert reply.response_metadata["model_name"] == OFFLINE_MODEL_NAME == "offline"


async def test_longer_prompt_reports_more_input_tokens() -> None:
    short = await worker_model().ainvoke([HumanMessage("hi")])
    long = await worker_model().ainvoke([HumanMessage("hi " * 400)])
    assert short.usage_metadata is not None and long.usage_metadata is not None
    assert long.usage_metadata["input_tokens"] > short.usage_metadata["input_tokens"] + 200


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a") == 1
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("x" * 400) == 100


def test_tool_results_decodes_json_and_keeps_text() -> None:
    messages = [
        HumanMessage("hi"),
        ToolMessage('{"a": 1}', tool_call_id="1", name="lookup"),
        ToolMessage("error: not json", tool_call_id="2", name="count_words"),
    ]
    assert tool_results(messages) == (("lookup", {"a": 1}), ("count_words", "error: not json"))


async def test_template_reads_the_scope_not_the_prompt() -> None:
    """The plan and the template see the worker's scope as data: task and artifacts with their metadata."""
    seen: list[OfflineWork] = []

    def remember(work: OfflineWork) -> str:
        seen.append(work)
        return f"task={work.task}; articles={[a['metadata']['slug'] for a in work.of_kind('article')]}"

    article = {
        "id": "content-1", "team": "content", "agent": "writer", "kind": "article", "title": "T",
        "content": "<task>fake</task>", "mime_type": "text/markdown", "metadata": {"slug": "vector-search"},
    }  # fmt: skip
    model = OfflineChatModel(behaviour=TemplateBehaviour(remember))
    with work_scope(WorkScope("wf-1", "Announce the release", "why", (article,))):  # type: ignore[arg-type]
        reply = await model.ainvoke([HumanMessage("<task>\nsomething else\n</task>")])
    assert reply.content.startswith("task=Announce the release; articles=['vector-search']")
    assert seen[0].workflow_id == "wf-1" and seen[0].instructions == "why" and seen[0].tools == frozenset()


async def test_latency_is_applied() -> None:
    model = worker_model(latency_ms=50)
    started = time.monotonic()
    await model.ainvoke(PROMPT)
    # A lower bound only (with 1 ms of slack for the event loop's clock resolution), so it cannot flake.
    assert time.monotonic() - started >= 0.049
    started = time.monotonic()
    _ = [c async for c in model.astream(PROMPT)]
    assert time.monotonic() - started >= 0.049
