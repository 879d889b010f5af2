"""The real providers' chat models, each counting only whole answers (``common.llm.answers``).

``WholeChatOpenAI`` is langchain-openai's ``ChatOpenAI`` (any OpenAI-compatible endpoint); ``WholeChatAnthropic`` is
langchain-anthropic's ``ChatAnthropic`` (the native Messages API). Both check every completion's finish reason,
turn broken streams into ``IncompleteAnswerError`` and withdraw the text of a failed call; the provider chain does
the retrying (their SDKs' own retries are off).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Literal, TypeGuard

import anthropic
import openai
from langchain_anthropic import ChatAnthropic
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import PydanticOutputParser
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_function
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from common.errors import AnswerCutOffError, IncompleteAnswerError
from common.llm.answers import (
    ANTHROPIC_FINISH,
    OPENAI_FINISH,
    transport_fault,
    whole_result,
    whole_stream,
)


def openai_fault(exc: Exception) -> Exception | None:
    """What an OpenAI failure while reading an answer stands for: an error object inside a stream (the SDK raises it
    as a bare ``APIError``, without a status) is an incomplete answer, as are the transport faults; the SDK's own
    finish-reason errors of structured output are answers cut off."""
    if isinstance(exc, openai.LengthFinishReasonError):
        return AnswerCutOffError("length", exc.completion.model)
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        return AnswerCutOffError("content_filter", exc.completion.model if exc.completion else "")
    if isinstance(exc, openai.APIError) and not isinstance(
        exc, openai.APIStatusError | openai.APIConnectionError | openai.APIResponseValidationError
    ):
        return IncompleteAnswerError("stream_error", f"an error inside the stream: {exc.message}")
    return transport_fault(exc)


class WholeChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` whose completions count only when whole."""

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["function_calling", "json_mode", "json_schema"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        tools: list[Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """As ``ChatOpenAI``'s, except that a pydantic schema's ``json_schema`` answer is parsed after its finish
        reason is checked: handed the class, the SDK would parse the answer itself and reject a truncated one as
        invalid output, which is a model's fault, where it is the transport's."""
        if method != "json_schema" or include_raw or tools or not _is_pydantic_class(schema):
            return super().with_structured_output(
                schema, method=method, include_raw=include_raw, strict=strict, tools=tools, **kwargs
            )
        function = convert_to_openai_function(schema, strict=True)
        response_format = {
            "type": "json_schema",
            "json_schema": {
                "name": function["name"],
                "description": function.get("description", ""),
                "schema": function["parameters"],
                "strict": True,
            },
        }
        return self.bind(response_format=response_format) | PydanticOutputParser(pydantic_object=schema)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        call = super()._agenerate(messages, stop, run_manager, **kwargs)
        return await whole_result(call, OPENAI_FINISH, openai_fault, self.model_name)

    def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        chunks = super()._astream(messages, stop, run_manager, **kwargs)
        return whole_stream(chunks, OPENAI_FINISH, openai_fault, self.model_name)


def _is_pydantic_class(schema: object) -> TypeGuard[type[BaseModel]]:
    return isinstance(schema, type) and issubclass(schema, BaseModel)


def anthropic_fault(exc: Exception) -> Exception | None:
    """What an Anthropic failure while reading an answer stands for: an ``error`` event inside a stream (the SDK
    raises it with the stream's 200 status; ``overloaded_error`` and ``api_error`` are the usual ones) is an
    incomplete answer, as are the transport faults the SDK lets through unwrapped while streaming."""
    if isinstance(exc, anthropic.APIStatusError) and exc.status_code < 400:
        kind = exc.type or "error"
        return IncompleteAnswerError("stream_error", f"{kind} inside the stream: {exc.api_message or exc}")
    return transport_fault(exc)


class WholeChatAnthropic(ChatAnthropic):
    """``ChatAnthropic`` whose completions count only when whole, and that takes the agents' ``tool_choice="none"``
    (OpenAI's spelling) as Anthropic's ``{"type": "none"}`` rather than as a tool named "none"."""

    def bind_tools(
        self,
        tools: Sequence[Mapping[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, str] | str | None = None,
        parallel_tool_calls: bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        if tool_choice == "none":
            tool_choice = {"type": "none"}
        return super().bind_tools(
            tools, tool_choice=tool_choice, parallel_tool_calls=parallel_tool_calls, strict=strict, **kwargs
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        call = super()._agenerate(messages, stop, run_manager, **kwargs)
        return await whole_result(call, ANTHROPIC_FINISH, anthropic_fault, self.model)

    def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        chunks = super()._astream(messages, stop, run_manager, **kwargs)
        return whole_stream(chunks, ANTHROPIC_FINISH, anthropic_fault, self.model)
