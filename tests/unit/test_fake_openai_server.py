"""The fake OpenAI server, driven through the real ``langchain_openai.ChatOpenAI`` client."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Annotated, Literal

import openai
import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field, ValidationError

from tests.fakes.openai_server import (
    META_DESCRIPTION,
    FakeOpenAIServer,
    Fault,
    Reply,
    brain,
    fill_schema,
)

TASK = "Write a launch blog post about solar panels for busy homeowners in Spain"
PROMPT = f"<task>\n{TASK}\n</task>"


class Route(BaseModel):
    """Where the work goes next."""

    next: Literal["research", "content", "FINISH"]
    reasoning: str


@tool
def publish_post(
    artifact_id: str,
    document_ids: list[str],
    query: str,
    platform: Literal["linkedin", "x"],
    platforms: list[Literal["linkedin", "x", "instagram"]],
    text: str,
    keywords: list[str],
    hashtags: list[str],
    count: Annotated[int, Field(ge=3)],
    timezone: str,
    limit: int = 5,
) -> str:
    """Publish a post (a tool with every field the fake model knows how to fill)."""
    return "published"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def chat(server: FakeOpenAIServer, **kwargs: object) -> ChatOpenAI:
    options: dict = {"max_retries": 0, "timeout": 5, **kwargs}
    return ChatOpenAI(model="fake-model", base_url=server.base_url, api_key="test", **options)


async def test_plain_text_with_usage(server: FakeOpenAIServer) -> None:
    message = await chat(server).ainvoke(PROMPT)

    assert isinstance(message.content, str)
    assert message.content.startswith("# Fake model answer")
    assert f"Meta description: {META_DESCRIPTION}" in message.content
    assert TASK in message.content
    assert len(message.content.split()) >= 120
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] > 0
    assert message.usage_metadata["output_tokens"] > 0
    assert message.response_metadata["model_name"] == "fake-model"
    assert message.response_metadata["finish_reason"] == "stop"
    assert server.requests[0]["_path"] == "/v1/chat/completions"
    assert server.requests[0]["messages"] == [{"role": "user", "content": PROMPT}]


def test_sync_invoke(server: FakeOpenAIServer) -> None:
    assert chat(server).invoke("hello").content.startswith("# Fake model answer")


async def test_structured_output_json_schema(server: FakeOpenAIServer) -> None:
    decision = await chat(server).with_structured_output(Route).ainvoke(PROMPT)

    assert decision == Route(next="research", reasoning="fake model: research")
    response_format = server.requests[-1]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Route"


async def test_structured_output_function_calling(server: FakeOpenAIServer) -> None:
    decision = await chat(server).with_structured_output(Route, method="function_calling").ainvoke(PROMPT)

    assert decision.next == "research"
    request = server.requests[-1]
    assert request["tools"][0]["function"]["name"] == "Route"
    assert request["tool_choice"] == {"type": "function", "function": {"name": "Route"}}


async def test_tool_call_with_smart_arguments_then_text(server: FakeOpenAIServer) -> None:
    model = chat(server).bind_tools([publish_post])
    conversation = [
        HumanMessage(
            f'{PROMPT}\n<artifact id="a-1" kind="article">old</artifact>\n'
            f'<artifact id="a-2" kind="article">new, from `kb:doc-1` and `kb:doc-2`</artifact>'
        )
    ]

    first = await model.ainvoke(conversation)

    assert len(first.tool_calls) == 1
    call = first.tool_calls[0]
    assert call["name"] == "publish_post"
    assert call["args"] == {
        "artifact_id": "a-2",
        "document_ids": ["doc-1", "doc-2"],
        "query": "Write a launch blog post about solar panels",
        "platform": "linkedin",
        "platforms": ["linkedin", "x", "instagram"],
        "text": "Fake model post about Write a launch blog post about solar panels",
        "keywords": ["marketing"],
        "hashtags": ["launch"],
        "count": 3,
        "timezone": "UTC",
    }
    assert first.response_metadata["finish_reason"] == "tool_calls"
    assert publish_post.args_schema.model_validate(call["args"])  # type: ignore[union-attr]

    second = await model.ainvoke([*conversation, first, ToolMessage("published", tool_call_id=call["id"])])

    assert not second.tool_calls
    assert isinstance(second.content, str) and second.content.startswith("# Fake model answer")
    assert server.requests[-1]["messages"][-1]["role"] == "tool"


async def test_stream_text_and_usage(server: FakeOpenAIServer) -> None:
    full = (await chat(server).ainvoke(PROMPT)).content

    chunks = [chunk async for chunk in chat(server).astream(PROMPT)]
    assert len(chunks) >= 3
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(str(c.content) for c in chunks) == full
    assert "stream_options" not in server.requests[-1]

    aggregate: AIMessageChunk | None = None
    async for chunk in chat(server, stream_usage=True).astream(PROMPT):
        aggregate = chunk if aggregate is None else aggregate + chunk
    assert aggregate is not None
    assert aggregate.content == full
    assert aggregate.usage_metadata is not None
    assert aggregate.usage_metadata["input_tokens"] > 0
    assert aggregate.usage_metadata["output_tokens"] > 0
    assert aggregate.response_metadata["finish_reason"] == "stop"
    assert server.requests[-1]["stream_options"] == {"include_usage": True}


async def test_stream_tool_call(server: FakeOpenAIServer) -> None:
    aggregate: AIMessageChunk | None = None
    count = 0
    async for chunk in chat(server).bind_tools([publish_post]).astream(PROMPT):
        count += 1
        aggregate = chunk if aggregate is None else aggregate + chunk
    assert aggregate is not None
    assert count >= 3
    assert aggregate.tool_calls[0]["name"] == "publish_post"
    assert aggregate.tool_calls[0]["args"]["platform"] == "linkedin"


async def test_rate_limit_fault_then_success(server: FakeOpenAIServer) -> None:
    server.script(Fault(429, {"Retry-After": "1"}))
    model = chat(server)

    with pytest.raises(openai.RateLimitError) as caught:
        await model.ainvoke("hello")

    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.status_code == 429
    assert (await model.ainvoke("hello")).content
    assert len(server.requests) == 2


async def test_client_retries_after_retry_after_ms(server: FakeOpenAIServer) -> None:
    server.script(Fault(429, {"retry-after-ms": "10"}), Fault(503, {"retry-after-ms": "10"}))

    message = await chat(server, max_retries=2).ainvoke("hello")

    assert message.content
    assert len(server.requests) == 3


async def test_down_and_timeout(server: FakeOpenAIServer) -> None:
    server.mode = "down"
    with pytest.raises(openai.InternalServerError):
        await chat(server).ainvoke("hello")

    server.mode = "ok"
    server.script(Fault(status=200, delay_s=2))
    with pytest.raises(openai.APITimeoutError):
        await chat(server, timeout=0.5).ainvoke("hello")


async def test_malformed_structured_output_raises(server: FakeOpenAIServer) -> None:
    server.mode = "malformed"

    with pytest.raises((OutputParserException, ValidationError)):
        await chat(server).with_structured_output(Route).ainvoke(PROMPT)

    message = await chat(server).bind_tools([publish_post]).ainvoke(PROMPT)
    assert not message.tool_calls
    assert message.invalid_tool_calls[0]["args"] == "{broken"


async def test_answer_callback_overrides_the_brain() -> None:
    seen: list[dict] = []

    def answer(request: dict) -> Reply:
        seen.append(request)
        return Reply(tool_calls=[("publish_post", {"query": "custom"})])

    with FakeOpenAIServer(model_name="other", answer=answer) as fake:
        model = ChatOpenAI(model="other", base_url=fake.base_url, api_key="test", max_retries=0, timeout=5)
        message = await model.bind_tools([publish_post]).ainvoke("hi")

    assert message.tool_calls[0]["args"] == {"query": "custom"}
    assert seen[0]["model"] == "other"


async def test_models_list(server: FakeOpenAIServer) -> None:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    try:
        models = [m.id async for m in client.models.list()]
    finally:
        await client.close()
    assert models == ["fake-model"]


def test_invalid_requests_get_openai_errors(server: FakeOpenAIServer) -> None:
    def post(body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{server.base_url}/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    status, body = post({"messages": [{"role": "user", "content": "hi"}]})
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == "model"
    status, body = post({"model": "fake-model"})
    assert (status, body["error"]["param"]) == (400, "messages")
    assert [r["_path"] for r in server.requests] == ["/v1/chat/completions"] * 2


def test_schema_filler_and_brain() -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "score": {"type": "integer", "minimum": 3},
            "ratio": {"type": "number"},
            "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "tone": {"$ref": "#/$defs/Tone"},
            "nested": {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}]},
            "optional": {"type": "string"},
        },
        "required": ["title", "score", "ratio", "ok", "tags", "tone", "nested"],
        "$defs": {
            "Tone": {"enum": ["friendly", "formal"], "type": "string"},
            "Inner": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
        },
    }
    assert fill_schema(schema) == {
        "title": "fake model value",
        "score": 3,
        "ratio": 0,
        "ok": False,
        "tags": ["fake model value"],
        "tone": "friendly",
        "nested": {"n": 0},
    }
    only_finish = {
        "type": "object",
        "properties": {"next": {"enum": ["FINISH"]}, "reasoning": {"type": "string"}},
    }
    assert fill_schema(only_finish) == {"next": "FINISH", "reasoning": "fake model: FINISH"}
    none_choice = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "none",
    }
    assert brain(none_choice).tool_calls == []
    assert brain({**none_choice, "tool_choice": "required"}).tool_calls == [("f", {})]


async def test_hang_mode_answers_late_and_stops_fast() -> None:
    fake = FakeOpenAIServer().start()
    fake.mode = "hang"
    fake.hang_s = 0.1
    assert (await chat(fake).ainvoke("hello")).content

    fake.hang_s = 30
    with pytest.raises(openai.APITimeoutError):
        await chat(fake, timeout=0.3).ainvoke("hello")
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2


# --- broken answers, as real providers break them ------------------------------------------------------------------


async def test_a_truncated_stream_ends_cleanly_without_a_finish_reason(server: FakeOpenAIServer) -> None:
    server.script(Fault(200, cut="truncate", after=4))
    chunks = [chunk async for chunk in chat(server).astream(PROMPT)]
    assert "".join(str(c.content) for c in chunks) == "# Fake model "
    assert not any(c.response_metadata.get("finish_reason") for c in chunks)
    assert server.requests[-1]["_fault"] == "truncate"


@pytest.mark.parametrize(
    "cut, error",
    [
        ("drop", openai.APIConnectionError),
        ("corrupt", json.JSONDecodeError),
        ("error_event", openai.APIError),
    ],
)
async def test_a_broken_stream_fails_the_client_after_some_chunks(
    server: FakeOpenAIServer, cut: str, error: type[Exception]
) -> None:
    server.script(Fault(200, cut=cut, after=4))
    received: list[AIMessageChunk] = []
    with pytest.raises(error):
        async for chunk in chat(server).astream(PROMPT):
            received.append(chunk)
    assert "".join(str(c.content) for c in received) == "# Fake model "


async def test_broken_answers_without_streaming(server: FakeOpenAIServer) -> None:
    whole = await chat(server).ainvoke(PROMPT)
    server.script(Fault(200, cut="truncate"), Fault(200, cut="drop"), Fault(200, cut="corrupt"))
    truncated = await chat(server).ainvoke(PROMPT)
    assert truncated.response_metadata["finish_reason"] is None
    assert len(truncated.content) == len(whole.content) // 2 and whole.content.startswith(truncated.content)
    with pytest.raises(openai.APIConnectionError):
        await chat(server).ainvoke(PROMPT)
    with pytest.raises(json.JSONDecodeError):
        await chat(server).ainvoke(PROMPT)


async def test_a_finish_reason_can_be_forced_and_a_plan_decides_per_request(server: FakeOpenAIServer) -> None:
    server.script(Fault(200, finish_reason="length"))
    assert (await chat(server).ainvoke(PROMPT)).response_metadata["finish_reason"] == "length"
    server.plan = lambda request: Fault(503) if "second" in str(request["messages"]) else None
    assert (await chat(server).ainvoke("first")).content
    with pytest.raises(openai.InternalServerError):
        await chat(server).ainvoke("second")
    assert [r["_fault"] for r in server.requests[-2:]] == [None, "503"]
    assert server.requests[-1]["_received_at"] > server.requests[-2]["_received_at"]


def test_an_unknown_cut_is_refused() -> None:
    with pytest.raises(ValueError, match="cut must be one of"):
        Fault(200, cut="explode")
