"""The research team's routing and offline plans: the data analyst only for tasks that name repositories."""

from __future__ import annotations

from collections.abc import Sequence

from common.agents.offline_work import OfflineWork
from common.agents.scope import metadata_list
from common.agents.state import ArtifactData
from common.agents.worker import ArtifactDraft, ToolResult, WorkerOutput
from research_service.__main__ import load_knowledge_base
from research_service.artifacts import brief_artifacts, search_artifacts
from research_service.offline import plan_metrics, plan_reading, plan_search
from research_service.team import research_team
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


def work(task: str, artifacts: Sequence[ArtifactData] = (), tools: Sequence[str] = ()) -> OfflineWork:
    return OfflineWork(task, "", "wf-1", tuple(artifacts), (), frozenset(tools))


def stored(draft: ArtifactDraft, number: int = 1) -> ArtifactData:
    return {
        "id": f"research-{number}", "team": "research", "agent": "worker", "kind": draft.kind, "title": draft.title,
        "content": draft.content, "mime_type": draft.mime_type, "metadata": dict(draft.metadata),
    }  # fmt: skip


def test_offline_plans() -> None:
    task = "Compare github.com/qdrant/qdrant and weaviate/weaviate"
    all_tools = {
        "web_search",
        "search_knowledge_base",
        "github_repository_metrics",
        "chart_repository_metrics",
    }
    assert [name for name, _ in plan_search(work(task, tools=all_tools))] == [
        "web_search",
        "search_knowledge_base",
    ]
    assert [name for name, _ in plan_search(work(task, tools={"search_knowledge_base"}))] == [
        "search_knowledge_base"
    ]
    assert plan_metrics(work(task, tools=all_tools)) == [
        ("github_repository_metrics", {"repository": "qdrant/qdrant"}),
        ("github_repository_metrics", {"repository": "weaviate/weaviate"}),
    ]
    assert plan_metrics(work("Research the repository landscape", tools=all_tools)) == []
    web = {
        "provider": "tavily",
        "results": [{"title": "A page", "url": "https://example.com/a", "snippet": "s"}],
    }
    hit = {"document_id": "doc-1", "title": "Doc", "source": "playbook/doc", "score": 1.0, "snippet": "text"}
    searched = WorkerOutput(
        "Found sources.",
        (
            ToolResult("web_search", {"query": "q"}, web),
            ToolResult("search_knowledge_base", {"query": "q"}, [hit]),
        ),
        "offline",
    )
    (search,) = search_artifacts(searched)
    assert plan_reading(work(task, [stored(search)], {"fetch_page", "read_sources"})) == [
        ("fetch_page", {"url": "https://example.com/a"}),
        ("read_sources", {"document_ids": ["doc-1"], "query": "qdrant weaviate compare github.com"}),
    ]


def test_the_brief_lists_its_findings_as_metadata() -> None:
    text = (
        "# Research brief: Vector Databases\n\n**Task:** t\n\n## Key findings\n"
        "- Vector databases grew 40% in 2025 [1]\n- Hybrid search matters [2]\n\n"
        "## Implications for the campaign\n- Anchor the message on vector databases [1]\n\n"
        "## Sources\n[1] Report — https://example.com/r\n[2] Doc (playbook/doc)"
    )
    (brief,) = brief_artifacts(WorkerOutput(text, (), "offline"))
    assert brief.content == text
    assert metadata_list(stored(brief), "findings") == [
        "Vector databases grew 40% in 2025 [1]",
        "Hybrid search matters [2]",
    ]
