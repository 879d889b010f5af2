"""Whole answers only: what every real chat model's calls go through before an agent sees them.

A completion counts only when the provider said it finished: a completion (streamed or not) without a finish
reason, a connection dropped mid-answer and a chunk that does not decode become ``IncompleteAnswerError``, a
transient failure that the provider chain retries and then sends to the backup. A finish reason that cuts the
answer short (``length``/``max_tokens``, a content filter) is no transport fault: it becomes ``AnswerCutOffError``,
which fails the call (and so the worker's step, recorded as a warning of the workflow) rather than let half an
answer through.

Text a failed call had already streamed reached the graph's ``messages`` stream (and StreamTask watchers) token by
token. It is withdrawn explicitly: a LangGraph custom stream chunk ``{"text_withdrawn": {"agent", "reason",
"chars"}}``, written from inside the model call (so it follows that call's last token on the same stream), that the
team service turns into a ``TextWithdrawn`` event: the caller drops the last ``chars`` characters of that agent's
text, everything the failed call streamed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langgraph.config import get_config, get_stream_writer

from common.errors import AnswerCutOffError, IncompleteAnswerError
from common.logging import get_logger
from common.metrics import MODEL_ANSWERS_CUT_OFF
from common.text import clip

log = get_logger(__name__)

WITHDRAWN = "text_withdrawn"
"""Key of the custom stream chunk that withdraws a failed call's streamed text."""


@dataclass(frozen=True)
class FinishReasons:
    """How a provider says an answer is over: the metadata key, and the values that mean it was cut short."""

    key: str
    cut_off: frozenset[str]


OPENAI_FINISH = FinishReasons("finish_reason", frozenset({"length", "content_filter"}))
ANTHROPIC_FINISH = FinishReasons("stop_reason", frozenset({"max_tokens", "model_context_window_exceeded"}))

Classifier = Callable[[Exception], Exception | None]
"""Turns a provider-specific failure into the error it stands for (None: raise it as it is)."""


def text_of(message: BaseMessage) -> str:
    """The text of a message or chunk: its string content, or its text blocks (tool calls, thinking left out)."""
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(
        str(block.get("text") or "")
        for block in content
        if isinstance(block, dict) and block.get("type", "text") == "text"
    )


def transport_fault(exc: Exception) -> Exception | None:
    """The ``IncompleteAnswerError`` a raw failure while reading an answer stands for: a chunk that is not JSON,
    a connection that dropped or stalled (errors the SDKs let through unwrapped while streaming)."""
    import httpx2  # the SDKs' HTTP client: loaded with them (only models of a real provider get here)

    if isinstance(exc, json.JSONDecodeError):
        return IncompleteAnswerError("corrupt_chunk", f"a chunk of the answer is not JSON ({exc.msg})")
    if isinstance(exc, httpx2.TimeoutException | httpx.TimeoutException):
        return IncompleteAnswerError("stalled", f"the answer stalled: {type(exc).__name__}")
    if isinstance(exc, httpx2.TransportError | httpx.TransportError):
        return IncompleteAnswerError(
            "dropped", f"the connection dropped mid-answer: {type(exc).__name__} {exc}"
        )
    return None


def in_graph() -> bool:
    """True inside a LangGraph node, where a withdrawal reaches the run's stream."""
    try:
        get_stream_writer()
    except (RuntimeError, KeyError):
        return False
    return True


def withdraw_streamed_text(chars: int, error: BaseException) -> bool:
    """Tell the graph's stream that the ``chars`` characters this failed call streamed are void.

    Returns:
        Whether the withdrawal was written (False outside a graph, or when nothing was streamed).
    """
    if chars <= 0:
        return False
    try:
        writer = get_stream_writer()
        agent = str((get_config().get("metadata") or {}).get("langgraph_node") or "")
    except (RuntimeError, KeyError):
        return False
    reason = clip(f"{type(error).__name__}: {error}", 300)
    writer({WITHDRAWN: {"agent": agent, "reason": reason, "chars": chars}})
    log.info("llm_text_withdrawn", agent=agent, chars=chars, reason=reason)
    return True


def _finish_reason(reasons: FinishReasons, *sources: Mapping[str, Any] | None) -> tuple[bool, str | None]:
    """(whether a finish reason is present, the reason) found in any of the metadata mappings."""
    for source in sources:
        if source and source.get(reasons.key):
            return True, str(source[reasons.key])
    return False, None


def check_finished(reasons: FinishReasons, finish_reason: str | None, model: str) -> None:
    """Raise unless the answer ended with a finish reason that does not cut it short."""
    if not finish_reason:
        raise IncompleteAnswerError(
            "no_finish_reason", f"the answer of {model or 'the model'} ended without one"
        )
    if finish_reason in reasons.cut_off:
        MODEL_ANSWERS_CUT_OFF.labels(model=model or "unknown", finish_reason=finish_reason).inc()
        log.warning("llm_answer_cut_off", model=model, finish_reason=finish_reason)
        raise AnswerCutOffError(finish_reason, model)


async def whole_result(
    call: Awaitable[ChatResult], reasons: FinishReasons, classify: Classifier, model: str
) -> ChatResult:
    """A non-streamed completion, only when it is whole (see the module docstring)."""
    try:
        result = await call
    except Exception as exc:
        if (fault := classify(exc)) is None:
            raise
        raise fault from exc
    for generation in result.generations:
        metadata = generation.message.response_metadata
        _, finish = _finish_reason(reasons, metadata, generation.generation_info, result.llm_output)
        check_finished(reasons, finish, str(metadata.get("model_name") or model))
    return result


async def whole_stream(
    chunks: AsyncIterator[ChatGenerationChunk], reasons: FinishReasons, classify: Classifier, model: str
) -> AsyncIterator[ChatGenerationChunk]:
    """A streamed completion, passed on chunk by chunk; it fails at its end unless it finished, and a failure
    withdraws the text it streamed."""
    finish: str | None = None
    chars = 0
    try:
        async for chunk in chunks:
            found, reason = _finish_reason(reasons, chunk.message.response_metadata, chunk.generation_info)
            finish = reason if found else finish
            model = str(chunk.message.response_metadata.get("model_name") or model)
            chars += len(text_of(chunk.message))
            yield chunk
        check_finished(reasons, finish, model)
    except Exception as exc:
        fault = classify(exc)
        withdraw_streamed_text(chars, fault or exc)
        if fault is None:
            raise
        raise fault from exc
