"""A deterministic, network-free chat model (``LLM_PROVIDER=offline``).

It behaves like a tool-calling chat model: ``bind_tools``, ``with_structured_output`` (via the base class's
tool-calling path) and streaming all work. What it answers is decided by a *behaviour*: keyword routing for
routers, templates filled with the brief and the tool results for workers
(``common.agents.offline_work``). Text it writes says that it came from
the offline model; usage reports token estimates.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
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
