"""The tenant's profile picks what its workers are offered: only the tools it enabled, on the models it chose."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.tools import StructuredTool
from pydantic import BaseModel

from common.agents.offline_work import OfflineWork, TemplateBehaviour, ToolCall
from common.agents.scope import WorkScope
from common.agents.worker import ArtifactDraft, BoundWorkerModel, ChatModels, Worker, WorkerOutput, run_worker
from common.llm.factory import ModelRole
from common.llm.offline import OfflineReply
from common.llm.usage import PriceTable
from common.routing import KeywordRouter, KeywordRoutingBehaviour, RouteOption, Router, RoutingContext
from tests.conftest import test_settings


class Args(BaseModel):
    """Arguments of the test tools."""

    text: str


def tool(name: str) -> StructuredTool:
    async def run(text: str) -> dict[str, str]:
        return {"tool": name, "text": text}

    return StructuredTool.from_function(
        coroutine=run, name=name, description=f"the {name} tool", args_schema=Args
    )


def plan(work: OfflineWork) -> list[ToolCall]:
    return [("alpha", {"text": "a"}), ("beta", {"text": "b"})]


def render(work: OfflineWork) -> str:
    called = sorted(name for name, _ in work.tool_results)
    return f"offered {sorted(work.tools) or 'nothing'}; called {called or 'nothing'}"


class Recording:
    """An offline behaviour that records the tools each turn was offered (then behaves as ``inner``)."""

    def __init__(self, inner: TemplateBehaviour) -> None:
        self.inner = inner
        self.offered: list[set[str]] = []

    def respond(self, messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> OfflineReply:
        self.offered.append({t["function"]["name"] for t in tools})
        return self.inner.respond(messages, tools)


def worker(behaviour: Any) -> Worker:
    return Worker(
        name="tester",
        description="tests",
        instructions="Call the tools.",
        tools=(tool("alpha"), tool("beta")),
        offline=behaviour,
        build_artifacts=lambda output: [ArtifactDraft("note", "Note", output.text)],
    )


async def run(model: BoundWorkerModel, test_worker: Worker, profile: dict[str, Any]) -> WorkerOutput:
    return await run_worker(test_worker, model, "brief", WorkScope(task="t", profile=profile), 3)


async def test_only_the_tools_the_tenant_enabled_are_offered_and_callable() -> None:
    behaviour = Recording(TemplateBehaviour(render, plan))
    test_worker = worker(behaviour)
    model = BoundWorkerModel.build(test_worker, test_settings())
    output = await run(model, test_worker, {"enabled_tools": ["alpha", "web_search"]})
    assert behaviour.offered[0] == {"alpha"}
    assert [r.name for r in output.tool_results] == ["alpha"]
    assert output.text.startswith("offered ['alpha']; called ['alpha']")
    behaviour.offered.clear()
    everything = await run(model, test_worker, {"enabled_tools": []})
    assert behaviour.offered[0] == {"alpha", "beta"}
    assert [r.name for r in everything.tool_results] == ["alpha", "beta"]


async def test_a_tenant_that_enabled_none_of_its_tools_falls_back_as_without_them() -> None:
    behaviour = Recording(TemplateBehaviour(render, plan))
    test_worker = worker(behaviour)
    output = await run(
        BoundWorkerModel.build(test_worker, test_settings()), test_worker, {"enabled_tools": ["x"]}
    )
    assert behaviour.offered == [set()] and output.tool_results == ()
    assert output.text.startswith("offered nothing; called nothing")


class Insistent:
    """A model behaviour that calls ``beta`` whatever it is offered (as a confused real model might)."""

    def respond(self, messages: Sequence[BaseMessage], tools: Sequence[dict[str, Any]]) -> OfflineReply:
        if tools and not any(m.type == "tool" for m in messages):
            return OfflineReply(tool_calls=[("beta", {"text": "b"})])
        return OfflineReply(content="done")


async def test_a_disabled_tool_called_anyway_is_not_run() -> None:
    test_worker = worker(Insistent())
    model = BoundWorkerModel.build(test_worker, test_settings())
    output = await run(model, test_worker, {"enabled_tools": ["alpha"]})
    [result] = output.tool_results
    assert result.name == "beta" and result.error == "there is no tool named 'beta'" and result.value is None


def test_bindings_are_made_once_per_model_and_tool_set() -> None:
    test_worker = worker(TemplateBehaviour(render, plan))
    model = BoundWorkerModel.build(test_worker, test_settings())
    default = model.for_scope(WorkScope())
    assert default.with_tools is model.with_tools and len(default.tools) == 2
    alpha = WorkScope(profile={"enabled_tools": ["alpha"]})
    assert model.for_scope(alpha) is model.for_scope(alpha)
    chosen = WorkScope(profile={"enabled_tools": ["alpha"], "models": {"worker_model": "m-1"}})
    assert model.for_scope(chosen) is model.for_scope(chosen) is not model.for_scope(alpha)
    assert [t.name for t in model.for_scope(chosen).tools] == ["alpha"]


async def test_the_tenants_worker_model_replaces_the_deployments_and_is_recorded() -> None:
    test_worker = worker(TemplateBehaviour(render, plan))
    model = BoundWorkerModel.build(test_worker, test_settings(llm_model="gpt-4o-mini"))
    assert (await run(model, test_worker, {})).model_name == "offline"
    chosen = await run(
        model, test_worker, {"models": {"worker_model": "gpt-4.1-mini", "router_model": "o4-mini"}}
    )
    assert chosen.model_name == "offline:gpt-4.1-mini"
    same_as_default = await run(model, test_worker, {"models": {"worker_model": "gpt-4o-mini"}})
    assert same_as_default.model_name == "offline"
    assert PriceTable().cost("offline:gpt-4.1-mini", 1000, 1000) == (0.0, True), "offline calls stay free"


def test_chat_models_are_built_once_per_name_and_bounded() -> None:
    models = ChatModels(test_settings(), ModelRole.WORKER, TemplateBehaviour(render), max_models=2)
    assert models.get("") is models.default() is models.get(models.default_name)
    first = models.get("a")
    assert models.get("a") is first and first.model_name == "offline:a"
    models.get("b")
    models.get("c")
    assert models.get("a") is not first, "the least recently used model was dropped"


async def test_the_router_uses_the_tenants_routing_model() -> None:
    keyword_router = KeywordRouter([RouteOption("writer", "writes", ("write",))])
    models = ChatModels(test_settings(), ModelRole.ROUTER, KeywordRoutingBehaviour(keyword_router))
    asked: list[str] = []

    def named(name: str) -> Any:
        asked.append(name)
        return models.get(name)

    router = Router(models.default(), keyword_router, "route", models=named)
    context = RoutingContext("write an article", (), (RouteOption("writer", "writes"),))
    assert (await router.decide(context)).next == "writer" and asked == []
    assert (await router.decide(context, model_name="router-model")).next == "writer"
    assert (await router.decide(context, model_name="router-model")).next == "writer"
    assert asked == ["router-model"], "bound once per model and option set"
    without_models = Router(models.default(), keyword_router, "route")
    assert (await without_models.decide(context, model_name="ignored")).next == "writer"
