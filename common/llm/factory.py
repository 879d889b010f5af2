"""The chat-model factory: one place decides which model backs routers and workers."""

from __future__ import annotations

from enum import StrEnum

from langchain_core.language_models import BaseChatModel

from common.config import LlmProvider, Settings
from common.llm.offline import OfflineBehaviour, OfflineChatModel


class ModelRole(StrEnum):
    """What a model is used for; routing may use its own model (``LLM_ROUTER_MODEL``)."""

    ROUTER = "router"
    WORKER = "worker"


def build_chat_model(
    settings: Settings, role: ModelRole, offline_behaviour: OfflineBehaviour
) -> BaseChatModel:
    """A chat model for one role.

    Args:
        settings: Process settings (``LLM_PROVIDER``, ``LLM_MODEL``, ``OPENAI_*``).
        role: Router or worker.
        offline_behaviour: What the offline model does in this role (ignored by real providers).
    """
    if settings.llm_provider is LlmProvider.OFFLINE:
        return OfflineChatModel(behaviour=offline_behaviour, latency_ms=settings.offline_llm_latency_ms)
    from langchain_openai import ChatOpenAI

    model = (
        settings.llm_router_model
        if role is ModelRole.ROUTER and settings.llm_router_model
        else settings.llm_model
    )
    return ChatOpenAI(
        model=model,
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url,
        timeout=settings.llm_timeout_s,
        max_retries=2,
        temperature=settings.llm_temperature,
    )
