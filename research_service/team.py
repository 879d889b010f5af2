"""The research team: a team lead routing among a searcher, a data analyst and an analyst.

Tools come from the team's ``ToolRegistry`` (``research_service.tools``): the local knowledge base always, web
search and page fetching when a search provider is configured, GitHub metrics and charts when GitHub is
configured. Everything fetched is fenced as untrusted; the team lead only ever sees the artifact titles
``research_service.artifacts`` writes.
"""

from __future__ import annotations

from common.agents.team_graph import TeamDefinition
from common.agents.worker import Worker
from common.cache import ToolCache
from common.tools.registry import ToolRegistry
from common.tools.untrusted import UNTRUSTED_RULE
from research_service import offline
from research_service.artifacts import (
    brief_artifacts,
    metrics_artifacts,
    metrics_off_artifacts,
    search_artifacts,
)
from research_service.knowledge_base import KnowledgeBase
from research_service.tools import TEAM, ResearchApis, research_registry

__all__ = ["TEAM", "ResearchApis", "analyst", "data_analyst", "research_team", "searcher"]


def searcher(registry: ToolRegistry) -> Worker:
    """Searches the web and the knowledge base; leaves ``search_results``."""
    return Worker(
        name="searcher",
        description="searches the web (when configured) and the knowledge base for sources relevant to the task",
        instructions=(
            "You are the research team's searcher. Call web_search (when available) and search_knowledge_base "
            "with one to three focused queries derived from the task, then answer with one sentence on what "
            f"you found. {UNTRUSTED_RULE}"
        ),
        tools=registry.tools_for("searcher", "web_search", "search_knowledge_base"),
        offline=offline.SEARCHER,
        build_artifacts=search_artifacts,
    )


def data_analyst(registry: ToolRegistry) -> Worker:
    """Fetches and charts the metrics of the repositories a task names; leaves ``repository_metrics`` and a
    ``chart`` (or a note that GitHub is off)."""
    return Worker(
        name="data_analyst",
        description=(
            "fetches GitHub repository metrics and charts commit activity; only when the task names "
            "repositories as owner/name or github.com/owner/name"
        ),
        instructions=(
            "You are the research team's data analyst. For each GitHub repository the task names (owner/name "
            "or github.com/owner/name), call github_repository_metrics, then chart_repository_metrics with the "
            "repositories you got metrics for; answer with one sentence per repository. Never guess "
            f"repositories the task does not name. {UNTRUSTED_RULE}"
        ),
        tools=registry.tools_for("data_analyst", "github_repository_metrics", "chart_repository_metrics"),
        offline=offline.DATA_ANALYST,
        build_artifacts=(
            metrics_artifacts if registry.configured("github_repository_metrics") else metrics_off_artifacts
        ),
        keywords=("github", "github.com", "repo", "repository", "repositories"),
    )


def analyst(registry: ToolRegistry) -> Worker:
    """Reads the sources found and writes the cited ``research_brief``."""
    return Worker(
        name="analyst",
        description="reads the sources found and writes a research brief with cited sources",
        instructions=(
            "You are the research team's analyst. Call fetch_page for the most relevant web results (web:...) "
            "and read_sources with the document ids (kb:...) from the search results, then write a markdown "
            "research brief: a '# Research brief: <topic>' title, '## Key findings' as bullets each ending with "
            "a citation like [1], '## Repository metrics' with the numbers from any repository_metrics "
            "artifact, '## Implications for the campaign', and '## Sources' listing [n] title — URL for web "
            "pages, [n] title (source) for knowledge-base documents, and [n] GitHub repository owner/name — URL "
            f"for repositories. Cite only sources you read. {UNTRUSTED_RULE}"
        ),
        tools=registry.tools_for("analyst", "fetch_page", "read_sources"),
        offline=offline.ANALYST,
        build_artifacts=brief_artifacts,
    )


def research_team(
    knowledge_base: KnowledgeBase, tool_cache: ToolCache | None = None, apis: ResearchApis | None = None
) -> TeamDefinition:
    """The research team over a knowledge base and the configured external services; erasing a tenant also
    deletes its cached tool results."""
    registry = research_registry(knowledge_base, apis, tool_cache)
    return TeamDefinition(
        name=TEAM,
        workers=(searcher(registry), data_analyst(registry), analyst(registry)),
        finish_when="once a cited brief exists",
        tools=registry,
        erase_tenant=tool_cache.erase_tenant if tool_cache is not None else None,
    )
