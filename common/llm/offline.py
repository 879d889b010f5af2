"""A deterministic, network-free chat model (``LLM_PROVIDER=offline``).

It behaves like a tool-calling chat model: ``bind_tools``, ``with_structured_output`` (via the base class's
tool-calling path) and streaming all work. What it answers is decided by a *behaviour*: keyword routing for
routers, templates filled with the brief and the tool results for workers. Text it writes says that it came from
the offline model; usage reports token estimates.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

from common.errors import ModelOutputError

OFFLINE_MODEL_NAME = "offline"
OFFLINE_NOTICE = "_Written by the offline model (LLM_PROVIDER=offline): a template, not a language model._"


@dataclass
class OfflineReply:
    """What a behaviour answers: text, or tool calls as (name, args) pairs."""

    content: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class OfflineBehaviour(Protocol):
    """Decides the offline model's answer to a conversation."""

    def respond(self, messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> OfflineReply:
        """Answer the conversation, given the tools bound to the model (OpenAI tool format)."""
        ...


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token), for usage reports without a tokenizer."""
    return max(1, (len(text) + 3) // 4) if text else 0


def tool_results(messages: Sequence[BaseMessage]) -> list[tuple[str, Any]]:
    """The (tool name, decoded result) pairs of the conversation's tool messages."""
    results = []
    for message in messages:
        if isinstance(message, ToolMessage):
            try:
                value = json.loads(message.content) if isinstance(message.content, str) else message.content
            except json.JSONDecodeError:
                value = message.content
            results.append((message.name or "", value))
    return results


def _canonical(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True, default=str)


def _calls_made(messages: Sequence[BaseMessage]) -> set[tuple[str, str]]:
    """The (tool, arguments) pairs the conversation has already called."""
    return {
        (call["name"], _canonical(call["args"]))
        for message in messages
        if isinstance(message, AIMessage)
        for call in message.tool_calls
    }


class TemplateBehaviour:
    """A worker's offline behaviour: call the tools its plan asks for, then write text from a template.

    The plan sees the conversation so far, so it may ask for more calls once earlier results are in (a search,
    then reading what it found); a call already made with the same arguments is never repeated, and when the
    plan asks for nothing new the template writes the answer.
    """

    def __init__(
        self,
        render: Callable[[Sequence[BaseMessage]], str],
        plan: Callable[[Sequence[BaseMessage], set[str]], list[tuple[str, dict[str, Any]]]] | None = None,
    ) -> None:
        """
        Args:
            render: Builds the final text from the conversation (brief and tool results).
            plan: Chooses tool calls from the conversation and the names of the bound tools.
        """
        self._render = render
        self._plan = plan

    def respond(self, messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> OfflineReply:
        names = {t["function"]["name"] for t in tools}
        if self._plan is not None and names:
            made = _calls_made(messages)
            calls = [
                (n, a)
                for n, a in self._plan(messages, names)
                if n in names and (n, _canonical(a)) not in made
            ]
            if calls:
                return OfflineReply(tool_calls=calls)
        return OfflineReply(content=self._render(messages).rstrip() + "\n\n" + OFFLINE_NOTICE)


class OfflineChatModel(BaseChatModel):
    """Deterministic chat model driven by an ``OfflineBehaviour``."""

    behaviour: Any
    model_name: str = OFFLINE_MODEL_NAME
    latency_ms: int = 0

    @property
    def _llm_type(self) -> str:
        return "offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
        """Bind tools in OpenAI format, as real tool-calling models do."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _reply(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage:
        tool_choice = kwargs.get("tool_choice")
        tools = (
            (kwargs.get("tools") or []) if tool_choice != "none" else []
        )  # "none": text only, as real models
        reply = self.behaviour.respond(messages, tools)
        forced = tool_choice not in (None, "none", "auto")
        if forced and not reply.tool_calls:
            raise ModelOutputError("offline model was asked for a tool call but its behaviour wrote text")
        tool_calls = [
            {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}
            for name, args in reply.tool_calls
        ]
        prompt_text = "".join(str(m.content) for m in messages) + json.dumps(tools)
        output_text = reply.content + "".join(json.dumps(args) for _, args in reply.tool_calls)
        usage = UsageMetadata(
            input_tokens=estimate_tokens(prompt_text),
            output_tokens=estimate_tokens(output_text),
            total_tokens=estimate_tokens(prompt_text) + estimate_tokens(output_text),
        )
        return AIMessage(
            content=reply.content,
            tool_calls=tool_calls,
            usage_metadata=usage,
            response_metadata={
                "model_name": self.model_name,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            },
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, **kwargs))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        return self._generate(messages, stop, **kwargs)

    def _chunks(self, message: AIMessage) -> Iterator[AIMessageChunk]:
        pieces = re.findall(r"\S+\s*|\s+", message.content) if isinstance(message.content, str) else []
        for piece in pieces:
            yield AIMessageChunk(content=piece)
        for index, call in enumerate(message.tool_calls):
            yield AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {"name": call["name"], "args": json.dumps(call["args"]), "id": call["id"], "index": index}
                ],
            )
        yield AIMessageChunk(
            content="", usage_metadata=message.usage_metadata, response_metadata=message.response_metadata
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._reply(messages, **kwargs)):
            if run_manager and isinstance(chunk.content, str) and chunk.content:
                run_manager.on_llm_new_token(chunk.content, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        for chunk in self._chunks(self._reply(messages, **kwargs)):
            if run_manager and isinstance(chunk.content, str) and chunk.content:
                await run_manager.on_llm_new_token(chunk.content, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)
