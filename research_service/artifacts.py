"""The research team's artifacts, built from each worker's output (its final text and its tool results).

Besides the rendered markdown, artifacts carry the facts later workers and teams read as metadata lists
(``common.agents.scope.metadata_list``):

- ``search_results``: ``doc_ids`` (knowledge-base documents found), and ``web_urls``, ``web_titles`` and
  ``web_snippets`` (the web results, in the same order, as rendered).
- ``repository_metrics``: ``repository_names`` and ``repository_urls`` (one per table row).
- ``research_brief``: ``findings`` (each key finding followed by its citation marker, as in the brief).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from common.agents.scope import list_metadata
from common.agents.worker import ArtifactDraft, ToolResult, WorkerOutput
from common.text import clip
from common.tools.untrusted import fence, unfence
from research_service.github_metrics import GITHUB_OFF
from research_service.web_search import OFF_NOTICE

_FINDINGS_HEADING = re.compile(r"^#{2,}\s.*\bfindings?\b", re.IGNORECASE)
_CITED_BULLET = re.compile(r"^[-*] (.+\[\d+(?:,\s*\d+)*\])\s*$")
_METRICS_COLUMNS = [
    "Repository", "Stars", "Forks", "Open issues", "Watchers", "Contributors", "Language", "License",
    "Latest release", "Last push", "Commit activity",
]  # fmt: skip


def capitalised(text: str) -> str:
    """The text with its first letter upper-case."""
    return text[:1].upper() + text[1:]


def oneline(text: str, limit: int = 200) -> str:
    """Text on one line without markdown emphasis, code, table or link characters, clipped."""
    return clip(" ".join(re.sub(r"[*`|\[\]]", "", text).split()), limit)


# --- searcher ----------------------------------------------------------------------------------------------


@dataclass
class _Searches:
    """What the searcher's searches found, deduplicated."""

    hits: list[dict[str, Any]] = field(default_factory=list)
    web: list[dict[str, Any]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    web_errors: list[str] = field(default_factory=list)

    def add(self, call: ToolResult) -> None:
        if call.error:
            if call.name == "web_search":
                self.web_errors.append(call.error)
        elif call.name == "search_knowledge_base":
            self.queries.append(call.args.get("query", ""))
            seen = {h["document_id"] for h in self.hits}
            self.hits.extend(h for h in call.value if h["document_id"] not in seen)
        elif call.name == "web_search":
            self.queries.append(call.args.get("query", ""))
            self.providers.append(call.value["provider"])
            seen = {r["url"] for r in self.web}
            self.web.extend(r for r in call.value["results"] if r["url"] not in seen)

    @property
    def searched_web(self) -> bool:
        return bool(self.providers or self.web_errors)

    @property
    def provider_names(self) -> str:
        return ", ".join(dict.fromkeys(self.providers))


def _web_title(result: dict[str, Any]) -> str:
    return oneline(result["title"])


def _web_snippet(result: dict[str, Any]) -> str:
    return oneline(unfence(result["snippet"]), 600)


def _search_sections(found: _Searches) -> list[str]:
    sections = []
    if found.web:
        lines = [
            f"{n}. **{_web_title(r)}** (`web:{r['url']}`)\n   {_web_snippet(r)}"
            for n, r in enumerate(found.web, start=1)
        ]
        sections.append(f"## Web results ({found.provider_names})\n" + fence("web search", "\n".join(lines)))
    elif found.providers:
        sections.append("## Web results\nThe web search found nothing.")
    if found.web_errors:
        sections.append("Web search failed: " + clip(found.web_errors[-1], 300))
    if not found.searched_web:
        sections.append(f"_{capitalised(OFF_NOTICE)}; these are local knowledge-base sources only._")
    kb_lines = [
        f"{n}. **{h['title']}** (`kb:{h['document_id']}`, {h['source']}, score {h['score']:.2f})\n   {h['snippet']}"
        for n, h in enumerate(found.hits, start=1)
    ]
    sections.append(
        "## Knowledge-base sources\n"
        + ("\n".join(kb_lines) if kb_lines else "No document in the knowledge base matched.")
    )
    return sections


def _search_metadata(found: _Searches) -> dict[str, str]:
    backend = (
        f"{found.provider_names or 'web'} web search + local knowledge base"
        if found.searched_web
        else f"local knowledge base ({OFF_NOTICE})"
    )
    return {
        "queries": " | ".join(dict.fromkeys(found.queries)),
        "result_count": str(len(found.hits) + len(found.web)),
        "document_ids": ",".join(h["document_id"] for h in found.hits),
        "urls": " ".join(r["url"] for r in found.web),
        "search_backend": backend,
        "web_search": found.provider_names or ("failed" if found.web_errors else "off"),
        "doc_ids": list_metadata([h["document_id"] for h in found.hits]),
        "web_urls": list_metadata([r["url"] for r in found.web]),
        "web_titles": list_metadata([_web_title(r) for r in found.web]),
        "web_snippets": list_metadata([_web_snippet(r) for r in found.web]),
    }


def search_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    """The searcher's ``search_results``: web and knowledge-base sources (nothing when it searched nothing)."""
    found = _Searches()
    for call in output.tool_results:
        found.add(call)
    if not found.queries and not found.web_errors:
        return []
    sources = "Web and knowledge-base" if found.searched_web else "Knowledge-base"
    return [
        ArtifactDraft(
            kind="search_results",
            title=f"{sources} sources for: {clip(found.queries[0] if found.queries else '', 80)}",
            content=("\n\n".join(_search_sections(found)) + f"\n\n{output.text}").strip(),
            metadata=_search_metadata(found),
        )
    ]


# --- data analyst ------------------------------------------------------------------------------------------


def metrics_off_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
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


def _metrics_row(m: dict[str, Any]) -> str:
    release = m["latest_release"]
    cells = [
        f"[{m['repository']}]({m['html_url']})", m["stars"], m["forks"], m["open_issues"], m["watchers"],
        "n/a" if m["contributors"] is None else m["contributors"], oneline(m["language"], 40) or "n/a",
        oneline(m["license"], 40) or "n/a", oneline(release["tag"], 40) if release else "none",
        m["pushed_at"][:10] or "n/a", oneline(m["commit_activity"]["status"], 60),
    ]  # fmt: skip
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _metrics_content(metrics: list[dict[str, Any]], errors: list[str]) -> str:
    header = ["| " + " | ".join(_METRICS_COLUMNS) + " |", "|" + "---|" * len(_METRICS_COLUMNS)]
    if metrics:
        content = "\n".join([*header, *(_metrics_row(m) for m in metrics)])
    else:
        content = "No repository metrics could be fetched."
    descriptions = [f"- {m['repository']}: {m['description']}" for m in metrics if unfence(m["description"])]
    if descriptions:
        content += "\n\nRepository descriptions (from GitHub):\n" + "\n".join(descriptions)
    if errors:
        content += "\n\nFailed lookups:\n" + "\n".join(errors)
    return content


def _chart_draft(chart: dict[str, Any]) -> ArtifactDraft:
    names = ", ".join(chart["repositories"])
    return ArtifactDraft(
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


def metrics_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    """The data analyst's ``repository_metrics`` table and, when it charted them, the ``chart``."""
    calls = [r for r in output.tool_results if r.name == "github_repository_metrics"]
    if not calls:
        return []
    metrics = list(
        {m["repository"].lower(): m for m in output.results_of("github_repository_metrics")}.values()
    )
    names = [m["repository"] for m in metrics]
    errors = [f"- {r.args.get('repository', '?')}: {clip(r.error, 200)}" for r in calls if r.error]
    remaining = [m["rate_limit_remaining"] for m in metrics if m.get("rate_limit_remaining") is not None]
    table = ArtifactDraft(
        kind="repository_metrics",
        title="GitHub repository metrics: " + (", ".join(names) if metrics else "none fetched"),
        content=_metrics_content(metrics, errors),
        metadata={
            "repositories": ",".join(names),
            "failed": str(len(errors)),
            "github_rate_limit_remaining": str(remaining[-1]) if remaining else "unknown",
            "repository_names": list_metadata(names),
            "repository_urls": list_metadata([m["html_url"] for m in metrics]),
        },
    )
    return [table, *(_chart_draft(chart) for chart in output.results_of("chart_repository_metrics")[-1:])]


# --- analyst -----------------------------------------------------------------------------------------------


def findings_of(brief: str) -> list[str]:
    """The cited bullets under a brief's findings heading, each as written (text, then its citation marker)."""
    findings: list[str] = []
    inside = False
    for line in brief.splitlines():
        if line.startswith("#"):
            inside = bool(_FINDINGS_HEADING.match(line))
        elif inside and (bullet := _CITED_BULLET.match(line)):
            findings.append(bullet[1])
    return findings


def _heading(text: str) -> str:
    match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def brief_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    """The analyst's ``research_brief``: its text, the sources it cites, and its findings as a list."""
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
                "findings": list_metadata(findings_of(output.text)),
            },
        )
    ]
