"""The research workers under the offline model: which tools each calls, and the text it writes.

Plans read the task and the artifacts in scope as data: knowledge-base ids, web results and repositories come from
the metadata lists ``research_service.artifacts`` writes, never from rendered text.
"""

from __future__ import annotations

import re

from common.agents.offline_work import OfflineWork, TemplateBehaviour, ToolCall
from common.agents.scope import metadata_list
from common.agents.state import ArtifactData
from common.text import clip, extract_keywords, topic_title
from common.tools.untrusted import unfence
from research_service.artifacts import capitalised, oneline
from research_service.github_metrics import GITHUB_OFF, repositories_in
from research_service.web_search import OFF_NOTICE

PAGES_TO_READ = 3


def search_query(task: str) -> str:
    """The query the offline searcher sends: the task's most frequent content terms."""
    return " ".join(extract_keywords(task, 8)) or clip(task, 200)


# --- searcher ----------------------------------------------------------------------------------------------


def plan_search(work: OfflineWork) -> list[ToolCall]:
    """Search the web (when bound) and the knowledge base with the task's key terms."""
    query = search_query(work.task)
    calls: list[ToolCall] = []
    if "web_search" in work.tools:
        calls.append(("web_search", {"query": query, "max_results": 5}))
    calls.append(("search_knowledge_base", {"query": query, "max_results": 5}))
    return calls


def render_search(work: OfflineWork) -> str:
    """One sentence on what the searches found."""
    hits = [h for value in work.results_of("search_knowledge_base") if isinstance(value, list) for h in value]
    web = [r for value in work.dict_results_of("web_search") for r in value["results"]]
    parts = []
    if web:
        parts.append(f"Found {len(web)} web result(s).")
    elif work.results_of("web_search"):
        parts.append("The web search failed or found nothing.")
    else:
        parts.append(f"{capitalised(OFF_NOTICE)}; searched the local knowledge base only.")
    if hits:
        parts.append(
            f"Found {len(hits)} knowledge-base source(s): " + "; ".join(h["title"] for h in hits) + "."
        )
    else:
        parts.append("No document in the knowledge base matches the task.")
    return " ".join(parts)


# --- data analyst ------------------------------------------------------------------------------------------


def plan_metrics(work: OfflineWork) -> list[ToolCall]:
    """Metrics of every repository the task names, then a chart of those fetched."""
    calls: list[ToolCall] = [
        ("github_repository_metrics", {"repository": r}) for r in repositories_in(work.task)
    ]
    fetched = [m["repository"] for m in work.dict_results_of("github_repository_metrics")]
    if fetched:
        calls.append(("chart_repository_metrics", {"repositories": fetched}))
    return calls


def render_metrics(work: OfflineWork) -> str:
    """One sentence per repository fetched, or why there are none."""
    repositories = repositories_in(work.task)
    if not repositories:
        return "No GitHub repository (owner/name or github.com/owner/name) is named in the task."
    results = work.results_of("github_repository_metrics")
    if not results:
        return f"{GITHUB_OFF}; no repository metrics for {', '.join(repositories)}."
    lines = [
        f"{m['repository']}: {m['stars']} stars, {m['forks']} forks, "
        f"{m['contributors'] if m['contributors'] is not None else 'an unknown number of'} contributors."
        for m in work.dict_results_of("github_repository_metrics")
    ]
    failed = [str(v) for v in results if not isinstance(v, dict)]
    return " ".join(lines + [f"{len(failed)} lookup(s) failed."] * bool(failed)) or "Every lookup failed."


# --- analyst -----------------------------------------------------------------------------------------------


def web_results(search_results: list[ArtifactData]) -> list[dict[str, str]]:
    """The web results (title, url, snippet) listed by ``search_results`` artifacts, first mention of a URL."""
    results: dict[str, dict[str, str]] = {}
    for artifact in search_results:
        found = zip(
            metadata_list(artifact, "web_urls"),
            metadata_list(artifact, "web_titles"),
            metadata_list(artifact, "web_snippets"),
            strict=False,
        )
        for url, title, snippet in found:
            results.setdefault(url, {"title": title, "url": url, "snippet": snippet})
    return list(results.values())


def plan_reading(work: OfflineWork) -> list[ToolCall]:
    """Fetch the first web results' pages and read the knowledge-base documents found."""
    found = work.of_kind("search_results")
    ids = list(dict.fromkeys(i for artifact in found for i in metadata_list(artifact, "doc_ids")))
    calls: list[ToolCall] = [("fetch_page", {"url": r["url"]}) for r in web_results(found)[:PAGES_TO_READ]]
    if ids:
        calls.append(("read_sources", {"document_ids": ids[:5], "query": search_query(work.task)}))
    return calls


def _first_sentences(text: str, count: int = 2) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return clip(" ".join(sentences[:count]), 360)


def _cite_reading(work: OfflineWork, sources: list[str]) -> list[str]:
    """Findings from the pages fetched (or their search snippets) and the passages read; adds their sources."""
    pages = {v["url"]: v for v in work.dict_results_of("fetch_page")}
    findings: list[str] = []
    for result in web_results(work.of_kind("search_results"))[:PAGES_TO_READ]:
        page = pages.get(result["url"])
        title = oneline(page["title"] if page else result["title"])
        text = unfence(page["text"]).removeprefix(page["title"]).lstrip() if page else result["snippet"]
        sources.append(f"[{len(sources) + 1}] {title} — {result['url']}")
        findings.append(f"- {oneline(_first_sentences(text), 360)} [{len(sources)}]")
    kb_numbers: dict[str, int] = {}
    for value in work.results_of("read_sources"):
        for passage in value if isinstance(value, list) else []:
            if passage["document_id"] not in kb_numbers:
                sources.append(f"[{len(sources) + 1}] {passage['title']} ({passage['source']})")
                kb_numbers[passage["document_id"]] = len(sources)
            findings.append(f"- {_first_sentences(passage['text'])} [{kb_numbers[passage['document_id']]}]")
    return findings


def _table_lines(artifact: ArtifactData) -> list[str]:
    return [line for line in artifact["content"].splitlines() if line.startswith("|")]


def _metrics_section(work: OfflineWork, sources: list[str]) -> list[str]:
    """The repository metrics and commit activity tables, or why there are none; adds the repositories as sources."""
    section: list[str] = []
    for artifact in work.of_kind("repository_metrics"):
        table = _table_lines(artifact)
        if artifact["metadata"].get("github") == "off":
            section += ["", "## Repository metrics", f"_{GITHUB_OFF}; no repository metrics or chart._"]
        if not table:
            continue
        names = metadata_list(artifact, "repository_names")
        for name, url in zip(names, metadata_list(artifact, "repository_urls"), strict=False):
            sources.append(f"[{len(sources) + 1}] GitHub repository {name} — {url}")
        section += [
            "",
            "## Repository metrics",
            "Source: GitHub REST API (see the chart artifact).",
            "",
            *table,
        ]
    for artifact in work.of_kind("chart"):
        if trend := _table_lines(artifact):
            section += ["", "Commit activity (pandas over GitHub's weekly commit counts):", "", *trend]
    return section


def render_brief(work: OfflineWork) -> str:
    """The research brief: cited findings, repository metrics, implications and sources."""
    topic = topic_title(work.task, 4) or "the task"
    sources: list[str] = []
    findings = _cite_reading(work, sources)
    metrics_section = _metrics_section(work, sources)
    lines = [f"# Research brief: {topic}", "", f"**Task:** {clip(work.task, 300)}", "", "## Key findings"]
    lines += findings or ["- Neither the web search nor the knowledge base holds anything on this topic."]
    if any(a["metadata"].get("web_search") == "off" for a in work.of_kind("search_results")):
        lines += ["", f"_{capitalised(OFF_NOTICE)}; these findings come from the local knowledge base only._"]
    lines += metrics_section
    lines += ["", "## Implications for the campaign"]
    lines.append(f"- Anchor the message on {topic.lower()}; lead with the findings above and cite them.")
    lines.append("- Reuse the sources below in the content team's article.")
    lines += ["", "## Sources", *(sources or ["(none)"])]
    return "\n".join(lines)


SEARCHER = TemplateBehaviour(render_search, plan_search)
DATA_ANALYST = TemplateBehaviour(render_metrics, plan_metrics)
ANALYST = TemplateBehaviour(render_brief, plan_reading)
