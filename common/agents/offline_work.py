"""Workers' behaviour under the offline model: plan tool calls, then fill a template, from structured data.

A team's ``offline.py`` gives each worker a ``TemplateBehaviour``: a *plan* (which tools to call, given what is
known so far) and a *render* (the final text). Both receive an ``OfflineWork``: the task and the artifacts in scope
as structured records (ids, kinds and metadata included), the tenant's profile, the results of the tools called so
far, and the tools bound to the model. Nothing is recovered from prompt text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from common.agents.scope import current_scope
from common.agents.state import ArtifactData
from common.llm.offline import OFFLINE_NOTICE, OfflineReply

ToolCall = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class OfflineWork:
    """What an offline worker knows at one turn of its run.

    Attributes:
        task: The original task.
        instructions: Why the team was chosen.
        workflow_id: The workflow the worker works for.
        artifacts: Every artifact in scope (upstream ones first), with metadata.
        tool_results: ``(tool name, decoded result)`` of every tool call so far; an error is the error text.
        tools: Names of the tools bound to the model for this turn (empty for the final answer).
        profile: The tenant's profile as plain data (``common.agents.profile`` reads it); empty without one.
    """

    task: str
    instructions: str
    workflow_id: str
    artifacts: tuple[ArtifactData, ...]
    tool_results: tuple[tuple[str, Any], ...]
    tools: frozenset[str]
    profile: Mapping[str, Any] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[ArtifactData]:
        """Artifacts of one kind, in order."""
        return [a for a in self.artifacts if a["kind"] == kind]

    def results_of(self, tool: str) -> list[Any]:
        """Results of one tool, in call order (errors included, as text)."""
        return [value for name, value in self.tool_results if name == tool]

    def dict_results_of(self, tool: str) -> list[dict[str, Any]]:
        """Successful object results of one tool, in call order."""
        return [v for v in self.results_of(tool) if isinstance(v, dict)]


def tool_results(messages: Sequence[BaseMessage]) -> tuple[tuple[str, Any], ...]:
    """The (tool name, decoded result) pairs of the conversation's tool messages."""
    results = []
    for message in messages:
        if isinstance(message, ToolMessage):
            try:
                value = json.loads(message.content) if isinstance(message.content, str) else message.content
            except json.JSONDecodeError:
                value = message.content
            results.append((message.name or "", value))
    return tuple(results)


def offline_work(messages: Sequence[BaseMessage], tools: Sequence[str] = ()) -> OfflineWork:
    """The running worker's ``OfflineWork``: its scope plus the tool results of its conversation."""
    scope = current_scope()
    return OfflineWork(
        task=scope.task,
        instructions=scope.instructions,
        workflow_id=scope.workflow_id,
        artifacts=scope.artifacts,
        tool_results=tool_results(messages),
        tools=frozenset(tools),
        profile=scope.profile,
    )


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

    The plan sees the results so far, so it may ask for more calls once earlier results are in (a search, then
    reading what it found); a call already made with the same arguments is never repeated, and when the plan asks
    for nothing new the template writes the answer.
    """

    def __init__(
        self,
        render: Callable[[OfflineWork], str],
        plan: Callable[[OfflineWork], list[ToolCall]] | None = None,
    ) -> None:
        """
        Args:
            render: Builds the final text.
            plan: Chooses tool calls (only calls to bound tools are made).
        """
        self._render = render
        self._plan = plan

    def respond(self, messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> OfflineReply:
        names = [t["function"]["name"] for t in tools]
        work = offline_work(messages, names)
        if self._plan is not None and names:
            made = _calls_made(messages)
            calls = [
                (n, a) for n, a in self._plan(work) if n in work.tools and (n, _canonical(a)) not in made
            ]
            if calls:
                return OfflineReply(tool_calls=calls)
        return OfflineReply(content=self._render(work).rstrip() + "\n\n" + OFFLINE_NOTICE)
