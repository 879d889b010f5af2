"""The research team's tools: typed arguments, the functions behind them, and the team's ``ToolRegistry``.

The local knowledge base is always on: the shared documents plus, in a team run, the running tenant's own documents
from the worker's scope (never another tenant's); web search and page fetching need a search provider, GitHub
metrics and charts need GitHub. Everything fetched comes back fenced as untrusted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field, field_validator

from common.agents.profile import knowledge_documents
from common.agents.scope import current_scope
from common.cache import ToolCache
from common.config import Settings
from common.tools.registry import ToolRegistry, ToolSpec
from research_service.github_metrics import GitHubMetrics, parse_repository
from research_service.knowledge_base import KnowledgeBase, tenant_documents
from research_service.web_pages import PageFetcher
from research_service.web_search import OFF_NOTICE, WebSearch

TEAM = "research"
"""The team's name (defined here, where its registry is built; ``research_service.team`` re-exports it)."""
CHART_REUSES_METRICS_S = 300.0  # the chart uses metrics fetched this long ago without asking GitHub again
TENANT_INDEXES = 16  # combined indexes (shared + one tenant's documents) kept for the calls of a run


# --- tool arguments ----------------------------------------------------------------------------------------


class SearchArgs(BaseModel):
    """Arguments of ``search_knowledge_base``."""

    query: str = Field(min_length=1, max_length=1000, description="Focused search query")
    max_results: int = Field(5, ge=1, le=20, description="How many documents to return")


class ReadSourcesArgs(BaseModel):
    """Arguments of ``read_sources``."""

    document_ids: list[str] = Field(min_length=1, max_length=10, description="Ids from the search results")
    query: str = Field(min_length=1, max_length=1000, description="What the passages should be about")


class WebSearchArgs(BaseModel):
    """Arguments of ``web_search``."""

    query: str = Field(min_length=1, max_length=400, description="Focused web search query")
    max_results: int = Field(5, ge=1, le=10, description="How many results to return")


class FetchPageArgs(BaseModel):
    """Arguments of ``fetch_page``."""

    url: str = Field(min_length=8, max_length=2000, description="An http(s) URL from the web search results")


class RepositoryArgs(BaseModel):
    """Arguments of ``github_repository_metrics``."""

    repository: str = Field(
        min_length=3, max_length=200, description="owner/name or https://github.com/owner/name"
    )

    @field_validator("repository")
    @classmethod
    def _valid(cls, value: str) -> str:
        return parse_repository(value)


class ChartArgs(BaseModel):
    """Arguments of ``chart_repository_metrics``."""

    repositories: list[str] = Field(min_length=1, max_length=5, description="Repositories as owner/name")

    @field_validator("repositories")
    @classmethod
    def _valid(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(parse_repository(v) for v in value))


# --- the external services ---------------------------------------------------------------------------------


@dataclass
class ResearchApis:
    """The external services behind the research tools (each off unless configured)."""

    search: WebSearch = field(default_factory=lambda: WebSearch("", None))
    pages: PageFetcher | None = None
    github: GitHubMetrics = field(default_factory=lambda: GitHubMetrics(None))

    @classmethod
    def from_settings(cls, settings: Settings) -> ResearchApis:
        """The services the settings configure."""
        search = WebSearch.from_settings(settings)
        pages = PageFetcher.from_settings(settings) if search.configured else None
        return cls(search, pages, GitHubMetrics.from_settings(settings))

    async def aclose(self) -> None:
        """Close every connection pool."""
        await self.search.aclose()
        await self.github.aclose()
        if self.pages is not None:
            await self.pages.aclose()


# --- the tools ---------------------------------------------------------------------------------------------


class ScopedKnowledge:
    """The knowledge base a tool call searches: the shared documents, plus the running worker's tenant documents
    (``WorkScope.profile["knowledge_documents"]``) when it has any, indexed together for that call. The combined
    index of the last few (tenant, documents) pairs is kept, so the calls of one run index once."""

    def __init__(self, shared: KnowledgeBase, max_indexes: int = TENANT_INDEXES) -> None:
        self.shared = shared
        self._indexes: LRUCache[str, KnowledgeBase] = LRUCache(maxsize=max_indexes)

    def current(self) -> KnowledgeBase:
        """The index for the running worker's tenant (the shared one outside a run or without documents)."""
        scope = current_scope()
        records = knowledge_documents(scope.profile)
        if not records:
            return self.shared
        digest = hashlib.sha256(
            json.dumps([(r.id, r.title, r.body) for r in records], ensure_ascii=False).encode()
        ).hexdigest()
        key = f"{scope.tenant_id}/{digest}"
        index = self._indexes.get(key)
        if index is None:
            index = self.shared.with_documents(tenant_documents(records))
            self._indexes[key] = index
        return index


def _knowledge_base_tools(knowledge_base: KnowledgeBase) -> tuple[ToolSpec, ...]:
    knowledge = ScopedKnowledge(knowledge_base)

    async def search(query: str, max_results: int = 5) -> list[dict[str, Any]]:
        return [hit.to_dict() for hit in knowledge.current().search(query, max_results)]

    async def read(document_ids: list[str], query: str) -> list[dict[str, Any]]:
        return [p.to_dict() for p in knowledge.current().key_passages(document_ids, query, per_document=2)]

    return (
        ToolSpec(
            "search_knowledge_base",
            "Rank the knowledge base's documents against a query; returns ids, titles, snippets.",
            SearchArgs,
            search,
            cached=True,
        ),
        ToolSpec(
            "read_sources",
            "Read the passages of the given documents that best match a query, for citing.",
            ReadSourcesArgs,
            read,
            cached=True,
        ),
    )


def _page_status(pages: PageFetcher | None) -> str:
    if pages is None:
        return f"off: needs web search: {OFF_NOTICE.removeprefix('web search off: ')}"
    private = "allowed (FETCH_ALLOW_PRIVATE_NETWORKS)" if pages.allow_private else "refused"
    return f"on: http(s) only, at most {pages.max_bytes} bytes, private networks {private}"


def _web_tools(apis: ResearchApis) -> tuple[ToolSpec, ...]:
    async def web_search(query: str, max_results: int = 5) -> dict[str, Any]:
        return await apis.search.search(query, max_results)

    async def fetch_page(url: str) -> dict[str, Any]:
        if apis.pages is None:
            raise RuntimeError(f"fetch_page is off ({OFF_NOTICE})")
        return await apis.pages.fetch(url)

    return (
        ToolSpec(
            "web_search",
            "Search the web; returns titles, URLs and snippets (snippets are untrusted text).",
            WebSearchArgs,
            web_search,
            service=apis.search.provider or "web_search",
            configured=apis.search.configured,
            status=apis.search.status,
            cached=True,
        ),
        ToolSpec(
            "fetch_page",
            "Fetch a web page found by web_search and return its readable text (untrusted), title and metadata.",
            FetchPageArgs,
            fetch_page,
            service="web",
            configured=apis.pages is not None,
            status=_page_status(apis.pages),
            cached=True,
            case_sensitive=True,  # URL paths and queries are case-sensitive
        ),
    )


def _github_tools(github: GitHubMetrics) -> tuple[ToolSpec, ...]:
    async def repository_metrics(repository: str) -> dict[str, Any]:
        return await github.metrics(repository)

    async def chart(repositories: list[str]) -> dict[str, Any]:
        metrics = await asyncio.gather(
            *(github.metrics(r, max_age_s=CHART_REUSES_METRICS_S) for r in repositories)
        )
        # pandas and matplotlib load on first use (about 50 MB a process without GitHub never pays).
        from research_service.charts import repository_chart

        return await asyncio.to_thread(repository_chart, metrics)

    return (
        ToolSpec(
            "github_repository_metrics",
            "GitHub metrics of one repository: stars, forks, open issues, watchers, contributors, latest "
            "release, weekly commit activity, and the remaining API quota.",
            RepositoryArgs,
            repository_metrics,
            service="github",
            configured=github.configured,
            status=github.status,
        ),
        ToolSpec(
            "chart_repository_metrics",
            "Analyse and chart repositories' weekly commit activity, stars and forks (a PNG chart and a table).",
            ChartArgs,
            chart,
            service="github",
            configured=github.configured,
            status=github.status,
        ),
    )


def research_registry(
    knowledge_base: KnowledgeBase, apis: ResearchApis | None = None, tool_cache: ToolCache | None = None
) -> ToolRegistry:
    """Every research tool, configured or not."""
    apis = apis or ResearchApis()
    return ToolRegistry(TEAM, tool_cache).add(
        *_knowledge_base_tools(knowledge_base), *_web_tools(apis), *_github_tools(apis.github)
    )


def research_tools(
    knowledge_base: KnowledgeBase, tool_cache: ToolCache | None = None
) -> tuple[BaseTool, ...]:
    """The knowledge-base tools (search, read), cached when a tool cache is given."""
    registry = research_registry(knowledge_base, tool_cache=tool_cache)
    return registry.tools_for("cache_warmer", "search_knowledge_base", "read_sources")
