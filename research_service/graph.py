"""The research team: a team lead routing among a searcher, a data analyst and an analyst.

Tools come from the team's ``ToolRegistry``: the local knowledge base always, web search and page fetching
when a search provider is configured, GitHub metrics and charts when GitHub is configured. Everything fetched is
fenced as untrusted; the team lead only ever sees artifact titles this module writes.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field, field_validator

from common.agents.brief import brief_from_messages
from common.agents.team_graph import TeamDefinition
from common.agents.worker import ArtifactDraft, Worker, WorkerOutput
from common.cache import ToolCache
from common.config import Settings
from common.llm.offline import TemplateBehaviour, tool_results
from common.text import clip, extract_keywords, topic_title
from common.tools.registry import ToolRegistry, ToolSpec
from common.tools.untrusted import UNTRUSTED_RULE, fence, unfence
from research_service.github_metrics import GitHubMetrics, parse_repository, repositories_in
from research_service.knowledge_base import KnowledgeBase
from research_service.web_pages import PageFetcher
from research_service.web_search import OFF_NOTICE, WebSearch

TEAM = "research"
PAGES_TO_READ = 3
CHART_REUSES_METRICS_S = 300.0  # the chart uses metrics fetched this long ago without asking GitHub again
_DOC_ID = re.compile(r"`kb:([^`\s]+)`")
_WEB_RESULT = re.compile(
    r"^\d+\. \*\*(?P<title>.*?)\*\* \(`web:(?P<url>https?://[^`\s]+)`\)\n(?P<snippet>(?:   .*\n?)*)", re.M
)
_REPO_ROW = re.compile(r"^\| \[(?P<repo>[\w.-]+/[\w.-]+)\]\((?P<url>https?://[^)\s]+)\) \|", re.M)
GITHUB_OFF = "GitHub metrics off: set GITHUB_TOKEN (or GITHUB_API_URL)"


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


# --- the registry ------------------------------------------------------------------------------------------


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


def research_registry(
    knowledge_base: KnowledgeBase, apis: ResearchApis | None = None, tool_cache: ToolCache | None = None
) -> ToolRegistry:
    """Every research tool, configured or not."""
    apis = apis or ResearchApis()

    async def search(query: str, max_results: int = 5) -> list[dict[str, Any]]:
        return [hit.to_dict() for hit in knowledge_base.search(query, max_results)]

    async def read(document_ids: list[str], query: str) -> list[dict[str, Any]]:
        return [p.to_dict() for p in knowledge_base.key_passages(document_ids, query, per_document=2)]

    async def web_search(query: str, max_results: int = 5) -> dict[str, Any]:
        return await apis.search.search(query, max_results)

    async def fetch_page(url: str) -> dict[str, Any]:
        if apis.pages is None:
            raise RuntimeError(f"fetch_page is off ({OFF_NOTICE})")
        return await apis.pages.fetch(url)

    async def repository_metrics(repository: str) -> dict[str, Any]:
        return await apis.github.metrics(repository)

    async def chart(repositories: list[str]) -> dict[str, Any]:
        metrics = await asyncio.gather(
            *(apis.github.metrics(r, max_age_s=CHART_REUSES_METRICS_S) for r in repositories)
        )
        # pandas and matplotlib load on first use (about 50 MB a process without GitHub never pays).
        from research_service.charts import repository_chart

        return await asyncio.to_thread(repository_chart, metrics)

    pages = apis.pages
    page_status = (
        f"on: http(s) only, at most {pages.max_bytes} bytes, private networks "
        + ("allowed (FETCH_ALLOW_PRIVATE_NETWORKS)" if pages.allow_private else "refused")
        if pages is not None
        else f"off: needs web search: {OFF_NOTICE.removeprefix('web search off: ')}"
    )
    return ToolRegistry(TEAM, tool_cache).add(
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
            configured=pages is not None,
            status=page_status,
            cached=True,
            case_sensitive=True,  # URL paths and queries are case-sensitive
        ),
        ToolSpec(
            "github_repository_metrics",
            "GitHub metrics of one repository: stars, forks, open issues, watchers, contributors, latest "
            "release, weekly commit activity, and the remaining API quota.",
            RepositoryArgs,
            repository_metrics,
            service="github",
            configured=apis.github.configured,
            status=apis.github.status,
        ),
        ToolSpec(
            "chart_repository_metrics",
            "Analyse and chart repositories' weekly commit activity, stars and forks (a PNG chart and a table).",
            ChartArgs,
            chart,
            service="github",
            configured=apis.github.configured,
            status=apis.github.status,
        ),
    )


def research_tools(
    knowledge_base: KnowledgeBase, tool_cache: ToolCache | None = None
) -> tuple[BaseTool, ...]:
    """The knowledge-base tools (search, read), cached when a tool cache is given."""
    registry = research_registry(knowledge_base, tool_cache=tool_cache)
    return registry.tools_for("cache_warmer", "search_knowledge_base", "read_sources")


def search_query(task: str) -> str:
    """The query the offline searcher sends: the task's most frequent content terms."""
    return " ".join(extract_keywords(task, 8)) or clip(task, 200)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _oneline(text: str, limit: int = 200) -> str:
    return clip(" ".join(re.sub(r"[*`|\[\]]", "", text).split()), limit)


# --- searcher ----------------------------------------------------------------------------------------------


def _plan_search(messages: Sequence[BaseMessage], tools: set[str]) -> list[tuple[str, dict[str, Any]]]:
    query = search_query(brief_from_messages(messages).task)
    calls: list[tuple[str, dict[str, Any]]] = []
    if "web_search" in tools:
        calls.append(("web_search", {"query": query, "max_results": 5}))
    calls.append(("search_knowledge_base", {"query": query, "max_results": 5}))
    return calls


def _render_search(messages: Sequence[BaseMessage]) -> str:
    results = tool_results(messages)
    hits = [h for name, value in results if name == "search_knowledge_base" for h in value or []]
    web = [
        r
        for name, value in results
        if name == "web_search" and isinstance(value, dict)
        for r in value["results"]
    ]
    parts = []
    if web:
        parts.append(f"Found {len(web)} web result(s).")
    elif any(name == "web_search" for name, _ in results):
        parts.append("The web search failed or found nothing.")
    else:
        parts.append(f"{_capitalised(OFF_NOTICE)}; searched the local knowledge base only.")
    if hits:
        parts.append(
            f"Found {len(hits)} knowledge-base source(s): " + "; ".join(h["title"] for h in hits) + "."
        )
    else:
        parts.append("No document in the knowledge base matches the task.")
    return " ".join(parts)


def _search_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    hits: list[dict[str, Any]] = []
    queries: list[str] = []
    web: list[dict[str, Any]] = []
    providers: list[str] = []
    web_errors = [r.error for r in output.tool_results if r.name == "web_search" and r.error]
    for call in output.tool_results:
        if call.error:
            continue
        if call.name == "search_knowledge_base":
            queries.append(call.args.get("query", ""))
            seen = {h["document_id"] for h in hits}
            hits.extend(h for h in call.value if h["document_id"] not in seen)
        elif call.name == "web_search":
            queries.append(call.args.get("query", ""))
            providers.append(call.value["provider"])
            seen = {r["url"] for r in web}
            web.extend(r for r in call.value["results"] if r["url"] not in seen)
    if not queries and not web_errors:
        return []
    sections = []
    searched_web = bool(providers or web_errors)
    if web:
        lines = [
            f"{n}. **{_oneline(r['title'])}** (`web:{r['url']}`)\n   {_oneline(unfence(r['snippet']), 600)}"
            for n, r in enumerate(web, start=1)
        ]
        sections.append(
            f"## Web results ({', '.join(dict.fromkeys(providers))})\n"
            + fence("web search", "\n".join(lines))
        )
    elif providers:
        sections.append("## Web results\nThe web search found nothing.")
    if web_errors:
        sections.append("Web search failed: " + clip(web_errors[-1], 300))
    if not searched_web:
        sections.append(f"_{_capitalised(OFF_NOTICE)}; these are local knowledge-base sources only._")
    kb_lines = [
        f"{n}. **{h['title']}** (`kb:{h['document_id']}`, {h['source']}, score {h['score']:.2f})\n   {h['snippet']}"
        for n, h in enumerate(hits, start=1)
    ]
    sections.append(
        "## Knowledge-base sources\n"
        + ("\n".join(kb_lines) if kb_lines else "No document in the knowledge base matched.")
    )
    backend = (
        f"{', '.join(dict.fromkeys(providers)) or 'web'} web search + local knowledge base"
        if searched_web
        else f"local knowledge base ({OFF_NOTICE})"
    )
    return [
        ArtifactDraft(
            kind="search_results",
            title=f"{'Web and knowledge-base' if searched_web else 'Knowledge-base'} sources for: {clip(queries[0] if queries else '', 80)}",
            content=("\n\n".join(sections) + f"\n\n{output.text}").strip(),
            metadata={
                "queries": " | ".join(dict.fromkeys(queries)),
                "result_count": str(len(hits) + len(web)),
                "document_ids": ",".join(h["document_id"] for h in hits),
                "urls": " ".join(r["url"] for r in web),
                "search_backend": backend,
                "web_search": ", ".join(dict.fromkeys(providers)) or ("failed" if web_errors else "off"),
            },
        )
    ]


# --- data analyst ------------------------------------------------------------------------------------------


def _fetched_metrics(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    return [
        v for name, v in tool_results(messages) if name == "github_repository_metrics" and isinstance(v, dict)
    ]


def _plan_metrics(messages: Sequence[BaseMessage], tools: set[str]) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("github_repository_metrics", {"repository": r})
        for r in repositories_in(brief_from_messages(messages).task)
    ]
    fetched = [m["repository"] for m in _fetched_metrics(messages)]
    if fetched:
        calls.append(("chart_repository_metrics", {"repositories": fetched}))
    return calls


def _render_metrics(messages: Sequence[BaseMessage]) -> str:
    repositories = repositories_in(brief_from_messages(messages).task)
    if not repositories:
        return "No GitHub repository (owner/name or github.com/owner/name) is named in the task."
    results = tool_results(messages)
    if not any(name == "github_repository_metrics" for name, _ in results):
        return f"{GITHUB_OFF}; no repository metrics for {', '.join(repositories)}."
    lines = [
        f"{m['repository']}: {m['stars']} stars, {m['forks']} forks, "
        f"{m['contributors'] if m['contributors'] is not None else 'an unknown number of'} contributors."
        for m in _fetched_metrics(messages)
    ]
    failed = [
        str(v) for name, v in results if name == "github_repository_metrics" and not isinstance(v, dict)
    ]
    return " ".join(lines + [f"{len(failed)} lookup(s) failed."] * bool(failed)) or "Every lookup failed."


def _metrics_off_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    """What the data analyst leaves when GitHub is not configured: a note that says so (the brief repeats it)."""
    return [
        ArtifactDraft(
            kind="repository_metrics",
            title="GitHub repository metrics: off",
            content=output.text
            if GITHUB_OFF in output.text
            else f"{GITHUB_OFF}; no repository metrics or chart.\n\n{output.text}".strip(),
            metadata={"github": "off", "repositories": "", "failed": "0"},
        )
    ]


def _metrics_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    calls = [r for r in output.tool_results if r.name == "github_repository_metrics"]
    if not calls:
        return []
    metrics = list(
        {m["repository"].lower(): m for m in output.results_of("github_repository_metrics")}.values()
    )
    columns = [
        "Repository",
        "Stars",
        "Forks",
        "Open issues",
        "Watchers",
        "Contributors",
        "Language",
        "License",
    ]
    columns += ["Latest release", "Last push", "Commit activity"]
    rows = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for m in metrics:
        release = m["latest_release"]
        cells = [
            f"[{m['repository']}]({m['html_url']})", m["stars"], m["forks"], m["open_issues"], m["watchers"],
            "n/a" if m["contributors"] is None else m["contributors"], _oneline(m["language"], 40) or "n/a", _oneline(m["license"], 40) or "n/a",
            _oneline(release["tag"], 40) if release else "none", m["pushed_at"][:10] or "n/a",
            _oneline(m["commit_activity"]["status"], 60),
        ]  # fmt: skip
        rows.append("| " + " | ".join(str(c) for c in cells) + " |")
    errors = [f"- {r.args.get('repository', '?')}: {clip(r.error, 200)}" for r in calls if r.error]
    descriptions = [f"- {m['repository']}: {m['description']}" for m in metrics if unfence(m["description"])]
    remaining = [m["rate_limit_remaining"] for m in metrics if m.get("rate_limit_remaining") is not None]
    content = "\n".join(rows) if metrics else "No repository metrics could be fetched."
    if descriptions:
        content += "\n\nRepository descriptions (from GitHub):\n" + "\n".join(descriptions)
    if errors:
        content += "\n\nFailed lookups:\n" + "\n".join(errors)
    drafts = [
        ArtifactDraft(
            kind="repository_metrics",
            title="GitHub repository metrics: " + ", ".join(m["repository"] for m in metrics)
            if metrics
            else "GitHub repository metrics: none fetched",
            content=content,
            metadata={
                "repositories": ",".join(m["repository"] for m in metrics),
                "failed": str(len(errors)),
                "github_rate_limit_remaining": str(remaining[-1]) if remaining else "unknown",
            },
        )
    ]
    for chart in output.results_of("chart_repository_metrics")[-1:]:
        names = ", ".join(chart["repositories"])
        drafts.append(
            ArtifactDraft(
                kind="chart",
                title=f"Commit activity and popularity chart: {names}",
                content=(
                    f"PNG chart (attached): commits per week over the last 52 weeks and stars and forks for {names}. "
                    f"Trend compares the last 4 weeks with the 4 before.\n\n{chart['table_markdown']}"
                ),
                mime_type="image/png",
                data=base64.b64decode(chart["png_b64"]),
                metadata={"repositories": ",".join(chart["repositories"]), "format": "png"},
            )
        )
    return drafts


# --- analyst -----------------------------------------------------------------------------------------------


def _web_results(brief_artifacts: list[dict[str, str]]) -> list[dict[str, str]]:
    results: dict[str, dict[str, str]] = {}
    for artifact in brief_artifacts:
        for match in _WEB_RESULT.finditer(unfence(artifact["content"]) + "\n"):
            results.setdefault(
                match["url"],
                {"title": match["title"], "url": match["url"], "snippet": match["snippet"].strip()},
            )
    return list(results.values())


def _plan_read(messages: Sequence[BaseMessage], tools: set[str]) -> list[tuple[str, dict[str, Any]]]:
    brief = brief_from_messages(messages)
    found = brief.of_kind("search_results")
    ids: list[str] = []
    for artifact in found:
        ids.extend(i for i in _DOC_ID.findall(artifact["content"]) if i not in ids)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("fetch_page", {"url": r["url"]}) for r in _web_results(found)[:PAGES_TO_READ]
    ]
    if ids:
        calls.append(("read_sources", {"document_ids": ids[:5], "query": search_query(brief.task)}))
    return calls


def _first_sentences(text: str, count: int = 2) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return clip(" ".join(sentences[:count]), 360)


def _render_brief(messages: Sequence[BaseMessage]) -> str:
    brief = brief_from_messages(messages)
    results = tool_results(messages)
    passages = [p for name, value in results if name == "read_sources" for p in value or []]
    pages = {v["url"]: v for name, v in results if name == "fetch_page" and isinstance(v, dict)}
    web = _web_results(brief.of_kind("search_results"))[:PAGES_TO_READ]
    topic = topic_title(brief.task, 4) or "the task"
    sources: list[str] = []
    findings: list[str] = []
    for result in web:
        page = pages.get(result["url"])
        title = _oneline(page["title"] if page else result["title"])
        text = unfence(page["text"]).removeprefix(page["title"]).lstrip() if page else result["snippet"]
        sources.append(f"[{len(sources) + 1}] {title} — {result['url']}")
        findings.append(f"- {_oneline(_first_sentences(text), 360)} [{len(sources)}]")
    kb_numbers: dict[str, int] = {}
    for passage in passages:
        if passage["document_id"] not in kb_numbers:
            sources.append(f"[{len(sources) + 1}] {passage['title']} ({passage['source']})")
            kb_numbers[passage["document_id"]] = len(sources)
        findings.append(f"- {_first_sentences(passage['text'])} [{kb_numbers[passage['document_id']]}]")
    metrics_section: list[str] = []
    for artifact in brief.of_kind("repository_metrics"):
        table = [line for line in artifact["content"].splitlines() if line.startswith("|")]
        if GITHUB_OFF in artifact["content"] and not table:
            metrics_section += [
                "",
                "## Repository metrics",
                f"_{GITHUB_OFF}; no repository metrics or chart._",
            ]
        if not table:
            continue
        for match in _REPO_ROW.finditer(artifact["content"]):
            sources.append(f"[{len(sources) + 1}] GitHub repository {match['repo']} — {match['url']}")
        metrics_section += [
            "",
            "## Repository metrics",
            "Source: GitHub REST API (see the chart artifact).",
            "",
            *table,
        ]
    for artifact in brief.of_kind("chart"):
        trend = [line for line in artifact["content"].splitlines() if line.startswith("|")]
        if trend:
            metrics_section += [
                "",
                "Commit activity (pandas over GitHub's weekly commit counts):",
                "",
                *trend,
            ]
    lines = [f"# Research brief: {topic}", "", f"**Task:** {clip(brief.task, 300)}", "", "## Key findings"]
    lines += findings or ["- Neither the web search nor the knowledge base holds anything on this topic."]
    if any(OFF_NOTICE.lower() in a["content"].lower() for a in brief.of_kind("search_results")):
        lines += [
            "",
            f"_{_capitalised(OFF_NOTICE)}; these findings come from the local knowledge base only._",
        ]
    lines += metrics_section
    lines += ["", "## Implications for the campaign"]
    lines.append(f"- Anchor the message on {topic.lower()}; lead with the findings above and cite them.")
    lines.append("- Reuse the sources below in the content team's article.")
    lines += ["", "## Sources", *(sources or ["(none)"])]
    return "\n".join(lines)


def _brief_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    cited = [p["document_id"] for value in output.results_of("read_sources") for p in value]
    urls = [re.sub(r"\s", "", u) for u in re.findall(r"— (https?://\S+)$", output.text, re.M)]
    read = [p["url"] for p in output.results_of("fetch_page")]
    return [
        ArtifactDraft(
            kind="research_brief",
            title=_heading(output.text) or "Research brief",
            content=output.text,
            metadata={
                "sources": ",".join(dict.fromkeys(cited)),
                "web_sources": " ".join(dict.fromkeys(urls)),
                "pages_read": str(len(read)),
                "source_count": str(len(set(cited)) + len(set(urls))),
            },
        )
    ]


def _heading(text: str) -> str:
    match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


# --- the team ----------------------------------------------------------------------------------------------


def research_team(
    knowledge_base: KnowledgeBase, tool_cache: ToolCache | None = None, apis: ResearchApis | None = None
) -> TeamDefinition:
    """The research team over a knowledge base and the configured external services."""
    registry = research_registry(knowledge_base, apis, tool_cache)
    searcher = Worker(
        name="searcher",
        description="searches the web (when configured) and the knowledge base for sources relevant to the task",
        instructions=(
            "You are the research team's searcher. Call web_search (when available) and search_knowledge_base "
            "with one to three focused queries derived from the task, then answer with one sentence on what "
            f"you found. {UNTRUSTED_RULE}"
        ),
        tools=registry.tools_for("searcher", "web_search", "search_knowledge_base"),
        offline=TemplateBehaviour(_render_search, _plan_search),
        build_artifacts=_search_artifacts,
    )
    data_analyst = Worker(
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
        offline=TemplateBehaviour(_render_metrics, _plan_metrics),
        build_artifacts=(
            _metrics_artifacts if registry.configured("github_repository_metrics") else _metrics_off_artifacts
        ),
        keywords=("github", "github.com", "repo", "repository", "repositories"),
    )
    analyst = Worker(
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
        offline=TemplateBehaviour(_render_brief, _plan_read),
        build_artifacts=_brief_artifacts,
    )
    return TeamDefinition(
        name=TEAM,
        workers=(searcher, data_analyst, analyst),
        finish_when="once a cited brief exists",
        tools=registry,
    )
