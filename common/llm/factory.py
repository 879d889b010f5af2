"""The chat-model factory: one place decides which model backs routers and workers."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from common.config import LlmProvider, Settings
from common.llm.offline import OfflineBehaviour, OfflineChatModel
from common.llm.providers import Provider, ProviderChain


class ModelRole(StrEnum):
    """What a model is used for; routing may use its own model (``LLM_ROUTER_MODEL``)."""

    ROUTER = "router"
    WORKER = "worker"


def _openai_model(
    model: str,
    api_key: str | None,
    base_url: str | None,
    timeout_s: float,
    role: ModelRole,
    settings: Settings,
) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model,
        # Local servers (vLLM, Ollama, llama.cpp) accept any key. The field is a SecretStr: pydantic would
        # convert a plain str to one, but the constructor's declared type only admits the SecretStr.
        api_key=SecretStr(api_key or "not-needed"),
        base_url=base_url,
        timeout=timeout_s,
        max_retries=0,  # retries are ours (tenacity, Retry-After aware), per provider
        temperature=settings.llm_temperature,
        stream_usage=True,
        # Routing answers are structured data, never streamed to callers; worker text streams when asked.
        disable_streaming=role is ModelRole.ROUTER,
    )


def _label(model: str, base_url: str | None) -> str:
    return f"{model} at {base_url or 'the OpenAI API'}"


def build_chat_model(settings: Settings, role: ModelRole, offline_behaviour: OfflineBehaviour) -> Any:
    """A chat model for one role.

    Args:
        settings: Process settings (``LLM_*``, ``OPENAI_*``, ``LLM_BACKUP_*``).
        role: Router or worker.
        offline_behaviour: What the offline model does in this role (ignored by real providers).

    Returns:
        The offline model, or a ``ProviderChain`` over the primary and the optional backup provider.
    """
    if settings.llm_provider is LlmProvider.OFFLINE:
        return OfflineChatModel(behaviour=offline_behaviour, latency_ms=settings.offline_llm_latency_ms)
    router = role is ModelRole.ROUTER
    model = (settings.llm_router_model if router else None) or settings.llm_model
    providers = [
        Provider(
            "primary",
            _label(model, settings.openai_base_url),
            _openai_model(
                model,
                settings.openai_api_key,
                settings.openai_base_url,
                settings.llm_timeout_s,
                role,
                settings,
            ),
            settings.llm_structured_method,
        )
    ]
    if settings.llm_backup_provider:
        backup_model = (
            (settings.llm_backup_router_model if router else None) or settings.llm_backup_model or model
        )
        providers.append(
            Provider(
                "backup",
                _label(backup_model, settings.llm_backup_base_url),
                _openai_model(
                    backup_model,
                    settings.llm_backup_api_key,
                    settings.llm_backup_base_url,
                    settings.llm_backup_timeout_s or settings.llm_timeout_s,
                    role,
                    settings,
                ),
                settings.llm_backup_structured_method or settings.llm_structured_method,
            )
        )
    return ProviderChain(providers, settings.llm_max_attempts, settings.llm_retry_max_wait_s)
