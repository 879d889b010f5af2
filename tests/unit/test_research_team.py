"""The research team's routing and offline plans: the data analyst only for tasks that name repositories."""

from __future__ import annotations

from langchain_core.messages import HumanMessage

from common.agents.brief import render_brief
from research_service.__main__ import load_knowledge_base
from research_service.graph import _plan_metrics, _plan_read, _plan_search, research_team
from tests.conftest import test_settings


def test_keyword_routing_picks_the_data_analyst_only_for_repositories() -> None:
    team = research_team(load_knowledge_base(test_settings()))
    router = team.keyword_router()
    assert [w.name for w in team.workers] == ["searcher", "data_analyst", "analyst"]
    assert router.needed("Research the vector database market report") == ["searcher", "analyst"]
    assert router.needed("Compare github.com/qdrant/qdrant with weaviate/weaviate") == [
        "searcher",
        "data_analyst",
        "analyst",
    ]
    assert "data_analyst" in router.needed("How popular is the GitHub repository pallets/flask?")


def test_without_services_only_the_knowledge_base_tools_are_bound() -> None:
    team = research_team(load_knowledge_base(test_settings()))
    assert {w.name: [t.name for t in w.tools] for w in team.workers} == {
        "searcher": ["search_knowledge_base"],
        "data_analyst": [],
        "analyst": ["read_sources"],
    }
    assert team.tools is not None and {t.name for t in team.tools.off()} == {
        "web_search",
        "fetch_page",
        "github_repository_metrics",
        "chart_repository_metrics",
    }


def test_offline_plans() -> None:
    def conversation(task: str, artifacts=()) -> list:
        return [HumanMessage(render_brief(task, "", list(artifacts)))]

    task = "Compare github.com/qdrant/qdrant and weaviate/weaviate"
    all_tools = {
        "web_search",
        "search_knowledge_base",
        "github_repository_metrics",
        "chart_repository_metrics",
    }
    assert [name for name, _ in _plan_search(conversation(task), all_tools)] == [
        "web_search",
        "search_knowledge_base",
    ]
    assert [name for name, _ in _plan_search(conversation(task), {"search_knowledge_base"})] == [
        "search_knowledge_base"
    ]
    assert _plan_metrics(conversation(task), all_tools) == [
        ("github_repository_metrics", {"repository": "qdrant/qdrant"}),
        ("github_repository_metrics", {"repository": "weaviate/weaviate"}),
    ]
    assert _plan_metrics(conversation("Research the repository landscape"), all_tools) == []
    search = {
        "id": "research-1", "team": "research", "agent": "searcher", "kind": "search_results", "title": "t",
        "content": "1. **A page** (`web:https://example.com/a`)\n   snippet\n"
                   "1. **Doc** (`kb:doc-1`, playbook/doc, score 1.00)\n   text",
        "mime_type": "text/markdown", "metadata": {},
    }  # fmt: skip
    assert _plan_read(conversation(task, [search]), {"fetch_page", "read_sources"}) == [
        ("fetch_page", {"url": "https://example.com/a"}),
        ("read_sources", {"document_ids": ["doc-1"], "query": "qdrant weaviate compare github.com"}),
    ]
