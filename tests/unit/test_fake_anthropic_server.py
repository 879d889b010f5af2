"""The fake Anthropic server, driven through the real ``langchain_anthropic.ChatAnthropic`` client and raw HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, Literal

import anthropic
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, SecretStr

from common.llm.chat_models import WholeChatAnthropic
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import Fault

PROMPT = "<task>\nWrite a launch post about solar panels\n</task>"


class Route(BaseModel):
    """Where the work goes next."""

    next: Literal["research", "content", "FINISH"]
    reasoning: str


@tool
def search(query: str) -> str:
    """Search the web."""
    return "results"


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as fake:
        yield fake


def chat(server: FakeAnthropicServer, whole: bool = False) -> ChatAnthropic:
    kind = WholeChatAnthropic if whole else ChatAnthropic
    return kind(model_name="claude-test", api_key=SecretStr("k"), base_url=server.base_url, max_retries=0,
                timeout=2, stop=None)  # fmt: skip


def post(
    server: FakeAnthropicServer, body: dict, headers: dict[str, str] | None = None
) -> tuple[int, Any, Any]:
    request = urllib.request.Request(
        f"{server.base_url}/v1/messages",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


async def test_text_answer_with_usage_and_stop_reason(server: FakeAnthropicServer) -> None:
    message = await chat(server).ainvoke([SystemMessage("Be brief."), HumanMessage(PROMPT)])
    assert isinstance(message.content, str) and message.content.startswith("# Fake model answer")
    assert "solar panels" in message.content
    assert message.usage_metadata and message.usage_metadata["output_tokens"] > 0
    request = server.requests[0]
    assert request["system"] == "Be brief." and request["messages"][0]["role"] == "user"


async def test_tools_are_called_then_text_follows_the_tool_result(server: FakeAnthropicServer) -> None:
    model = chat(server).bind_tools([search])
    first = await model.ainvoke([HumanMessage(PROMPT)])
    assert [c["name"] for c in first.tool_calls] == ["search"] and first.tool_calls[0]["args"]["query"]
    assert first.response_metadata["stop_reason"] == "tool_use"
    call = first.tool_calls[0]
    second = await model.ainvoke(
        [HumanMessage(PROMPT), first, ToolMessage("found it", tool_call_id=call["id"])]
    )
    assert not second.tool_calls and "# Fake model answer" in str(second.content)
    assert server.requests[0]["tools"][0]["input_schema"]["properties"]["query"]


async def test_tool_choice_none_any_and_a_named_tool(server: FakeAnthropicServer) -> None:
    text = await chat(server, whole=True).bind_tools([search], tool_choice="none").ainvoke(PROMPT)
    assert server.requests[-1]["tool_choice"] == {"type": "none"} and not text.tool_calls
    forced = await chat(server).bind_tools([search], tool_choice="any").ainvoke(PROMPT)
    assert server.requests[-1]["tool_choice"] == {"type": "any"} and forced.tool_calls
    named = await chat(server).bind_tools([search], tool_choice="search").ainvoke(PROMPT)
    assert server.requests[-1]["tool_choice"] == {"type": "tool", "name": "search"} and named.tool_calls


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
async def test_structured_output(
    server: FakeAnthropicServer, method: Literal["json_schema", "function_calling"]
) -> None:
    decision = await chat(server).with_structured_output(Route, method=method).ainvoke(PROMPT)
    assert decision == Route(next="research", reasoning="fake model: research")
    request = server.requests[-1]
    if method == "json_schema":
        assert request["output_config"]["format"]["type"] == "json_schema"
    else:
        assert request["tool_choice"] == {"type": "tool", "name": "Route"}


async def test_the_event_stream_carries_text_tool_use_and_the_stop_reason(
    server: FakeAnthropicServer,
) -> None:
    chunks = [c async for c in chat(server).astream(PROMPT)]
    text = "".join(str(c.content) for c in chunks)
    assert len(chunks) > 10 and text.startswith("# Fake model answer")
    assert chunks[-1].response_metadata["stop_reason"] == "end_turn"
    merged: AIMessageChunk = sum(chunks[1:], chunks[0])  # type: ignore[assignment]
    assert merged.usage_metadata and merged.usage_metadata["input_tokens"] > 0
    tool_chunks = [c async for c in chat(server).bind_tools([search]).astream(PROMPT)]
    merged = sum(tool_chunks[1:], tool_chunks[0])  # type: ignore[assignment]
    assert merged.tool_calls[0]["name"] == "search" and merged.tool_calls[0]["args"]["query"]


def test_the_raw_event_stream(server: FakeAnthropicServer) -> None:
    body = {
        "model": "claude-test",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    status, text, headers = post(server, body, {"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("event: ")]
    assert events[:3] == ["message_start", "ping", "content_block_start"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[3:-3]) == {"content_block_delta"}
    assert int(headers["anthropic-ratelimit-requests-remaining"]) > 0


def test_requests_are_validated_like_the_real_api(server: FakeAnthropicServer) -> None:
    good = {"model": "claude-test", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    version = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    status, body, headers = post(server, good)
    assert status == 401 and body["error"]["type"] == "authentication_error" and headers["request-id"]
    assert post(server, good, {"x-api-key": "k"})[0] == 400
    status, body, _ = post(server, {**good, "max_tokens": 0}, version)
    assert (status, body["type"], body["error"]["type"]) == (400, "error", "invalid_request_error")
    status, body, _ = post(server, {**good, "tools": [{"name": "a", "input_schema": {}}],
                                    "tool_choice": {"type": "tool", "name": "b"}}, version)  # fmt: skip
    assert status == 400 and "tool_choice.name" in body["error"]["message"]


async def test_error_statuses_with_their_headers(server: FakeAnthropicServer) -> None:
    server.script(Fault(429, {"retry-after": "7"}), Fault(529))
    with pytest.raises(anthropic.RateLimitError) as limited:
        await chat(server).ainvoke(PROMPT)
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.type == "rate_limit_error"
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        await chat(server).ainvoke(PROMPT)
    assert overloaded.value.status_code == 529 and overloaded.value.type == "overloaded_error"


async def test_a_stream_cut_before_its_stop_reason_is_visible_to_a_plain_client(
    server: FakeAnthropicServer,
) -> None:
    server.script(Fault(200, cut="truncate", after=6))
    chunks = [c async for c in chat(server).astream(PROMPT)]
    assert chunks and not any(c.response_metadata.get("stop_reason") for c in chunks)


async def test_prompt_cache_reads_and_writes(server: FakeAnthropicServer) -> None:
    server.prompt_cache = True
    messages = [SystemMessage("You are a careful marketing writer. " * 10), HumanMessage(PROMPT)]
    first, second = [await chat(server).ainvoke(messages) for _ in range(2)]
    assert first.usage_metadata and second.usage_metadata
    assert first.usage_metadata["input_token_details"]["cache_creation"] > 0
    assert second.usage_metadata["input_token_details"]["cache_read"] > 0
    assert first.usage_metadata["input_tokens"] == second.usage_metadata["input_tokens"]
