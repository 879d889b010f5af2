"""The tool registry: every tool a team can use, with its typed arguments, and whether it is configured.

Workers take their tools from the team's registry, so the model sees exactly the configured tools through tool
calling; ``describe()`` feeds the ``ListTools`` RPCs, which show every tool, configured or not, and why.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel

from common.cache import ToolCache


@dataclass(frozen=True)
class ToolSpec:
    """One tool.

    Attributes:
        name: What the model calls it; unique in a team.
        description: What it does, for the model.
        args_schema: Its arguments, validated before the function runs.
        function: The async function; it takes the schema's fields as keyword arguments.
        service: The external service it calls ("" for a local tool).
        configured: False when the service it needs is not set up; such a tool is never bound to a model.
        status: How it is configured, or how to turn it on.
        cached: Results go through the team's tool cache (only for tools whose results depend on their arguments
            alone).
        case_sensitive: The arguments' case matters for the cache key (URLs, paths); by default "Vector DB" and
            "vector db" share an entry.
    """

    name: str
    description: str
    args_schema: type[BaseModel]
    function: Callable[..., Awaitable[Any]]
    service: str = ""
    configured: bool = True
    status: str = "local"
    cached: bool = False
    case_sensitive: bool = False

    def input_schema(self) -> dict[str, Any]:
        """The JSON Schema of the arguments."""
        return self.args_schema.model_json_schema()


@dataclass(frozen=True)
class ToolInfo:
    """What introspection shows about one tool."""

    name: str
    description: str
    input_schema_json: str
    service: str
    configured: bool
    status: str
    agents: tuple[str, ...]


@dataclass
class ToolRegistry:
    """A team's tools."""

    team: str
    tool_cache: ToolCache | None = None
    _specs: dict[str, ToolSpec] = field(default_factory=dict)
    _users: dict[str, list[str]] = field(default_factory=dict)
    _built: dict[str, BaseTool] = field(default_factory=dict)

    def add(self, *specs: ToolSpec) -> ToolRegistry:
        """Register tools.

        Raises:
            ValueError: A tool of that name is already registered.
        """
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"tool {spec.name!r} is already registered in the {self.team} team")
            self._specs[spec.name] = spec
        return self

    def spec(self, name: str) -> ToolSpec:
        """A registered tool.

        Raises:
            KeyError: No tool of that name.
        """
        return self._specs[name]

    def configured(self, name: str) -> bool:
        """Whether a registered tool can be used."""
        return name in self._specs and self._specs[name].configured

    def tools_for(self, agent: str, *names: str) -> tuple[BaseTool, ...]:
        """The configured tools among ``names`` (in that order) for one agent, recording that it uses them.

        Raises:
            KeyError: A name is not registered (a programming error, not a configuration one).
        """
        tools = []
        for name in names:
            spec = self._specs[name]
            users = self._users.setdefault(name, [])
            if agent not in users:
                users.append(agent)
            if spec.configured:
                tools.append(self._tool(spec))
        return tuple(tools)

    def _tool(self, spec: ToolSpec) -> BaseTool:
        if spec.name not in self._built:
            function = spec.function
            if spec.cached and self.tool_cache is not None:
                function = self.tool_cache.wrap(spec.name, function, fold_case=not spec.case_sensitive)
            self._built[spec.name] = StructuredTool.from_function(
                coroutine=function, name=spec.name, description=spec.description, args_schema=spec.args_schema
            )
        return self._built[spec.name]

    def describe(self) -> list[ToolInfo]:
        """Every registered tool, configured or not, in registration order."""
        return [
            ToolInfo(
                name=spec.name,
                description=spec.description,
                input_schema_json=json.dumps(spec.input_schema(), sort_keys=True),
                service=spec.service,
                configured=spec.configured,
                status=spec.status,
                agents=tuple(self._users.get(spec.name, ())),
            )
            for spec in self._specs.values()
        ]

    def off(self) -> list[ToolSpec]:
        """The tools that are not configured."""
        return [spec for spec in self._specs.values() if not spec.configured]
