"""The offline chat model, recording every conversation it is given (to inspect what each agent saw)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage

import common.agents.team_graph as team_graph
import supervisor_service.graph as supervisor_graph
from common.llm.offline import OfflineChatModel


class RecordingChatModel(OfflineChatModel):
    """The offline model, recording every conversation it is given and every answer it gives."""

    journal: Any
    role: str = ""

    def _reply(self, messages: list[BaseMessage], **kwargs: Any) -> AIMessage:
        answer = super()._reply(messages, **kwargs)
        tools = {t["function"]["name"] for t in kwargs.get("tools") or []}
        self.journal.append(
            {
                "model": id(self),
                "role": self.role,
                "messages": list(messages),
                "answer": answer,
                "tools": tools,
            }
        )
        return answer


@contextmanager
def recording_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Make every in-process service build recording models; yields the shared journal."""
    journal: list[dict[str, Any]] = []
    real_factory = team_graph.build_chat_model

    def recording_factory(settings, role, offline_behaviour):
        real_factory(settings, role, offline_behaviour)  # keep the factory's own validation in the path
        return RecordingChatModel(behaviour=offline_behaviour, journal=journal, role=role.value)

    monkeypatch.setattr(team_graph, "build_chat_model", recording_factory)
    monkeypatch.setattr(supervisor_graph, "build_chat_model", recording_factory)
    yield journal
