"""Whole answers, the retry policy and prices, unit by unit (no network)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypedDict

import anthropic
import httpx2
import openai
import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langgraph.graph import END, START, StateGraph

from common.errors import AnswerCutOffError, IncompleteAnswerError
from common.llm.answers import ANTHROPIC_FINISH, OPENAI_FINISH, WITHDRAWN, text_of, whole_stream
from common.llm.chat_models import anthropic_fault, openai_fault
from common.llm.retry import is_retryable, rate_limit_reset_in, retry_after_in, retry_after_s
from common.llm.usage import PriceTable, Tokens


class _Broken(BaseChatModel):
    """Streams some words, then fails the way ``cut`` says (or finishes with ``finish``)."""

    cut: str = "truncate"
    finish: str | None = None

    @property
    def _llm_type(self) -> str:
        return "broken"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:  # fmt: skip
        return ChatResult(generations=[ChatGeneration(message=AIMessage("unused"))])

    async def _words(self) -> AsyncIterator[ChatGenerationChunk]:
        for word in ("half ", "an ", "answer"):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))
        if self.cut == "corrupt":
            json.loads('{"broken')
        if self.finish:
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=""), generation_info={"finish_reason": self.finish}
            )

    def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                 run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any,
                 ) -> AsyncIterator[ChatGenerationChunk]:  # fmt: skip
        return whole_stream(self._words(), OPENAI_FINISH, openai_fault, "broken")


class _State(TypedDict, total=False):
    error: str


async def test_a_withdrawal_written_inside_a_model_call_follows_its_tokens_on_the_graph_stream() -> None:
    """What the team service relies on: LangGraph carries a custom write made inside a node's model call on the
    same stream as the call's ``messages`` chunks, after them."""
    model = _Broken(cut="corrupt")

    async def writer(state: _State) -> _State:
        try:
            await model.ainvoke("write")
        except IncompleteAnswerError as exc:
            return {"error": exc.reason}
        return {}

    graph = (
        StateGraph(_State)
        .add_node("writer", writer)
        .add_edge(START, "writer")
        .add_edge("writer", END)
        .compile()
    )
    seen = [item async for item in graph.astream({}, stream_mode=["custom", "values", "messages"])]
    tokens = [c[0].content for mode, c in seen if mode == "messages" and c[0].content]
    withdrawals = [c[WITHDRAWN] for mode, c in seen if mode == "custom"]
    assert tokens == ["half ", "an ", "answer"]
    assert withdrawals == [
        {"agent": "writer", "chars": len("half an answer"), "reason": withdrawals[0]["reason"]}
    ]
    order = [mode for mode, c in seen if mode == "custom" or (mode == "messages" and c[0].content)]
    assert order == ["messages", "messages", "messages", "custom"]
    assert seen[-1] == ("values", {"error": "corrupt_chunk"})


@pytest.mark.parametrize(
    "cut, finish, error",
    [("truncate", None, IncompleteAnswerError), ("corrupt", None, IncompleteAnswerError),
     ("none", "length", AnswerCutOffError), ("none", "content_filter", AnswerCutOffError)],
)  # fmt: skip
async def test_a_stream_counts_only_when_it_finishes(cut: str, finish: str | None, error: type) -> None:
    with pytest.raises(error):
        [c async for c in _Broken(cut=cut, finish=finish).astream("write")]
    whole = [c async for c in _Broken(cut="none", finish="stop").astream("write")]
    assert "".join(str(c.content) for c in whole) == "half an answer"


async def test_outside_a_graph_a_failed_stream_just_raises() -> None:
    with pytest.raises(IncompleteAnswerError, match="no_finish_reason"):
        [c async for c in _Broken().astream("write")]


def test_text_of_reads_text_blocks_only() -> None:
    assert text_of(AIMessageChunk(content="plain")) == "plain"
    blocks = [{"type": "text", "text": "a", "index": 0}, {"type": "tool_use", "id": "t", "input": {}},
              {"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "b"}]  # fmt: skip
    assert text_of(AIMessageChunk(content=blocks)) == "ab"


def _response(status: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(
        status, headers=headers or {}, request=httpx2.Request("POST", "http://x/v1/messages")
    )


def test_what_is_retried() -> None:
    for status in (408, 429, 500, 503, 529):
        assert is_retryable(anthropic.APIStatusError("x", response=_response(status), body=None)), status
    for status in (400, 401, 404, 422):
        assert not is_retryable(anthropic.APIStatusError("x", response=_response(status), body=None)), status
    assert is_retryable(IncompleteAnswerError("dropped", "x"))
    assert is_retryable(httpx2.RemoteProtocolError("peer closed connection"))
    assert is_retryable(openai.APIConnectionError(request=httpx2.Request("POST", "http://x")))
    assert not is_retryable(AnswerCutOffError("length", "m"))
    assert not is_retryable(json.JSONDecodeError("x", "", 0)), (
        "only a model's own reading turns it into a fault"
    )


def test_provider_faults_inside_an_answer() -> None:
    in_stream = anthropic.APIStatusError(
        "overloaded", response=_response(200), body={"type": "error", "error": {"type": "overloaded_error"}}
    )
    fault = anthropic_fault(in_stream)
    assert isinstance(fault, IncompleteAnswerError) and "overloaded_error" in str(fault)
    assert anthropic_fault(anthropic.APIStatusError("x", response=_response(529), body=None)) is None
    assert isinstance(anthropic_fault(httpx2.ReadTimeout("slow")), IncompleteAnswerError)
    assert isinstance(openai_fault(json.JSONDecodeError("x", "", 0)), IncompleteAnswerError)
    in_stream_openai = openai.APIError("boom", httpx2.Request("POST", "http://x"), body={"message": "boom"})
    assert isinstance(openai_fault(in_stream_openai), IncompleteAnswerError)


def test_retry_after_headers() -> None:
    assert retry_after_in({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_in({"retry-after": "3"}) == 3.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 < (retry_after_in({"retry-after": later}) or 0) <= 30
    assert retry_after_in({}) is None


def test_anthropic_rate_limit_headers_say_when_an_exhausted_limit_resets() -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    later = (datetime.now(UTC) + timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": soon,
        "anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": later,
        "anthropic-ratelimit-output-tokens-remaining": "10", "anthropic-ratelimit-output-tokens-reset": later,
    }  # fmt: skip
    assert 18 < (rate_limit_reset_in(headers) or 0) <= 20, "the latest reset of the exhausted limits"
    assert rate_limit_reset_in({"anthropic-ratelimit-requests-remaining": "3"}) is None
    error = anthropic.RateLimitError("limited", response=_response(429, headers), body=None)
    assert 18 < (retry_after_s(error) or 0) <= 20, "without retry-after, the reset decides"


def test_claude_prices_with_prompt_cache_tokens() -> None:
    prices = PriceTable()
    assert prices.price_of("claude-sonnet-4-5-20250929") == prices.price_of("claude-sonnet-4")
    assert prices.price_of("claude-opus-4-5") != prices.price_of("claude-opus-4-1"), "Opus 4.5 costs less"
    tokens = Tokens(
        input=1_000_000, output=1_000_000, cache_read=400_000, cache_write=100_000, cache_write_1h=0
    )
    cost, priced = prices.cost_of("claude-sonnet-4-5", tokens)
    assert priced and cost == pytest.approx(0.5 * 3 + 0.4 * 0.30 + 0.1 * 3.75 + 15)
    cost, _ = prices.cost_of("gpt-4o-mini", Tokens(input=1_000_000, output=0, cache_read=1_000_000))
    assert cost == pytest.approx(0.075), "OpenAI's cached input price"
    assert prices.cost_of("some-model", tokens) == (0.0, False)


def test_tokens_from_usage_metadata() -> None:
    claude = {"input_tokens": 100, "output_tokens": 5, "input_token_details": {
        "cache_read": 40, "cache_creation": 0, "ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}}  # fmt: skip
    assert Tokens.of(claude) == Tokens(100, 5, cache_read=40, cache_write=10, cache_write_1h=20)
    assert Tokens.of({"input_tokens": 7, "output_tokens": 1}) == Tokens(7, 1)


def test_finish_reasons_by_provider() -> None:
    assert OPENAI_FINISH.key == "finish_reason" and "length" in OPENAI_FINISH.cut_off
    assert ANTHROPIC_FINISH.key == "stop_reason" and "max_tokens" in ANTHROPIC_FINISH.cut_off
    assert "end_turn" not in ANTHROPIC_FINISH.cut_off and "tool_use" not in ANTHROPIC_FINISH.cut_off
