"""The chat-model factory: one place decides which model backs routers and workers."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from common.config import LlmProvider, ModelChoice, Settings
from common.llm.breakers import provider_breaker
from common.llm.offline import OfflineBehaviour, OfflineChatModel
from common.llm.providers import Provider, ProviderChain

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

ANTHROPIC_API_URL = "https://api.anthropic.com"


class ModelRole(StrEnum):
    """What a model is used for; routing may use its own provider and model (``LLM_ROUTER_PROVIDER``,
    ``LLM_ROUTER_MODEL``)."""

    ROUTER = "router"
    WORKER = "worker"


# The provider SDKs are imported when a model of theirs is built: the offline model's services start without them.


def _openai_model(choice: ModelChoice, role: ModelRole, settings: Settings) -> BaseChatModel:
    from common.llm.chat_models import WholeChatOpenAI

    return WholeChatOpenAI(
        model=choice.model,
        # Local servers (vLLM, Ollama, llama.cpp) accept any key. The field is a SecretStr: pydantic would
        # convert a plain str to one, but the constructor's declared type only admits the SecretStr.
        api_key=SecretStr(choice.endpoint.api_key or "not-needed"),
        base_url=choice.endpoint.base_url,
        timeout=choice.timeout_s,
        stream_chunk_timeout=choice.timeout_s,  # a stream silent for as long as a request may take has stalled
        max_retries=0,  # retries are ours (tenacity, Retry-After aware), per provider
        temperature=settings.llm_temperature,
        stream_usage=True,
        # Routing answers are structured data, never streamed to callers; worker text streams when asked.
        disable_streaming=role is ModelRole.ROUTER,
    )


def _anthropic_model(choice: ModelChoice, role: ModelRole, settings: Settings) -> BaseChatModel:
    # Newer Claude models reject sampling parameters other than their defaults, so the temperature is sent only
    # when LLM_TEMPERATURE is set.
    from common.llm.chat_models import WholeChatAnthropic

    temperature = settings.llm_temperature if "llm_temperature" in settings.model_fields_set else None
    return WholeChatAnthropic(
        model_name=choice.model,
        stop=None,
        api_key=SecretStr(choice.endpoint.api_key or "not-needed"),
        # Explicit, so that the client never picks an endpoint from the environment on its own: every setting is
        # read in common/config.py.
        base_url=choice.endpoint.base_url or ANTHROPIC_API_URL,
        timeout=choice.timeout_s,
        max_retries=0,  # retries are ours (tenacity, retry-after and anthropic-ratelimit-* aware), per provider
        stream_usage=True,
        disable_streaming=role is ModelRole.ROUTER,
        temperature=temperature,
    )


def _label(choice: ModelChoice) -> str:
    default = "the Anthropic API" if choice.endpoint.provider is LlmProvider.ANTHROPIC else "the OpenAI API"
    return f"{choice.model} at {choice.endpoint.base_url or default}"


def build_chat_model(settings: Settings, role: ModelRole, offline_behaviour: OfflineBehaviour) -> Any:
    """A chat model for one role.

    Args:
        settings: Process settings (``LLM_*``, ``OPENAI_*``, ``ANTHROPIC_*``, ``LLM_BACKUP_*``).
        role: Router or worker.
        offline_behaviour: What the offline model does in this role (ignored by real providers).

    Returns:
        The offline model, or a ``ProviderChain`` over the role's primary and the optional backup provider, each
        behind its endpoint's breaker.
    """
    chain = settings.model_chain(role is ModelRole.ROUTER)
    if not chain:
        return OfflineChatModel(behaviour=offline_behaviour, latency_ms=settings.offline_llm_latency_ms)
    build = {LlmProvider.OPENAI: _openai_model, LlmProvider.ANTHROPIC: _anthropic_model}
    providers = [
        Provider(
            choice.slot,
            _label(choice),
            build[choice.endpoint.provider](choice, role, settings),
            choice.structured_method,
            choice.endpoint.name,
            provider_breaker(choice.endpoint, settings),
        )
        for choice in chain
    ]
    return ProviderChain(providers, settings.llm_max_attempts, settings.llm_retry_max_wait_s)
