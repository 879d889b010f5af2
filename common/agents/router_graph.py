"""The one router graph shape, shared by the supervisor and every team lead.

A router node decides who acts next and jumps there with LangGraph's ``Command(goto=...)``; every member node
returns to the router when it is done; the router's ``FINISH`` ends the graph. The supervisor's members are team
calls over gRPC, a team lead's are its workers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from common.routing import FINISH


@dataclass(frozen=True)
class Routed:
    """A router's decision: the member to run next (or ``FINISH``) and the state update that records it."""

    next: str
    update: dict[str, Any] = field(default_factory=dict)


RouterFunction = Callable[[Any, RunnableConfig], Awaitable[Routed]]
MemberNode = Callable[..., Awaitable[dict[str, Any]]]


def build_router_graph(
    state_schema: type[Any],
    router_name: str,
    router: RouterFunction,
    members: Mapping[str, MemberNode],
    graph_name: str,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    routed_members: Mapping[str, Callable[..., Awaitable[Command[str]]]] | None = None,
) -> CompiledStateGraph[Any]:
    """Compile a router graph.

    Args:
        state_schema: The graph's state (a TypedDict with reducers for what members append).
        router_name: Name of the router node (``router``, ``team_lead``).
        router: Decides the next member from the state; ``Routed.update`` is written before the jump.
        members: Member nodes by name, each returning a state update; they hand back to the router.
        graph_name: Name of the compiled graph (shown in traces).
        checkpointer: LangGraph checkpointer for durable runs.
        routed_members: Members that choose where to go themselves (``Command(goto=...)``: the router or the end),
            such as a team's human-review gate.
    """
    routed = dict(routed_members or {})

    async def route(state: Any, config: RunnableConfig) -> Command[str]:
        decision = await router(state, config)
        if decision.next != FINISH and decision.next not in members and decision.next not in routed:
            raise ValueError(f"router chose {decision.next!r}, which is not a member of {graph_name}")
        goto = END if decision.next == FINISH else decision.next
        return Command(goto=goto, update=decision.update)

    graph = StateGraph(state_schema)
    graph.add_node(router_name, route, destinations=(*members, *routed, END))
    for name, node in members.items():
        graph.add_node(name, node)
        graph.add_edge(name, router_name)
    for name, gate in routed.items():
        graph.add_node(name, gate, destinations=(router_name, END))
    graph.add_edge(START, router_name)
    return graph.compile(name=graph_name, checkpointer=checkpointer)
