"""The research team: a team lead routing between a searcher and an analyst over the local knowledge base."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from common.agents.brief import brief_from_messages
from common.agents.team_graph import TeamDefinition
from common.agents.worker import ArtifactDraft, Worker, WorkerOutput
from common.cache import ToolCache
from common.llm.offline import TemplateBehaviour, tool_results
from common.text import clip, extract_keywords, topic_title
from research_service.knowledge_base import KnowledgeBase

TEAM = "research"
_DOC_ID = re.compile(r"`kb:([^`\s]+)`")


class SearchArgs(BaseModel):
    """Arguments of ``search_knowledge_base``."""

    query: str = Field(min_length=1, max_length=1000, description="Focused search query")
    max_results: int = Field(5, ge=1, le=20, description="How many documents to return")


class ReadSourcesArgs(BaseModel):
    """Arguments of ``read_sources``."""

    document_ids: list[str] = Field(min_length=1, max_length=10, description="Ids from the search results")
    query: str = Field(min_length=1, max_length=1000, description="What the passages should be about")


def research_tools(
    knowledge_base: KnowledgeBase, tool_cache: ToolCache | None = None
) -> tuple[BaseTool, BaseTool]:
    """The team's tools over one knowledge base, their results cached when a tool cache is given."""

    async def search(query: str, max_results: int = 5) -> list[dict[str, Any]]:
        return [hit.to_dict() for hit in knowledge_base.search(query, max_results)]

    async def read(document_ids: list[str], query: str) -> list[dict[str, Any]]:
        return [p.to_dict() for p in knowledge_base.key_passages(document_ids, query, per_document=2)]

    if tool_cache is not None:
        search = tool_cache.wrap("search_knowledge_base", search)
        read = tool_cache.wrap("read_sources", read)

    return (
        StructuredTool.from_function(
            coroutine=search,
            name="search_knowledge_base",
            description="Rank the knowledge base's documents against a query; returns ids, titles, snippets.",
            args_schema=SearchArgs,
        ),
        StructuredTool.from_function(
            coroutine=read,
            name="read_sources",
            description="Read the passages of the given documents that best match a query, for citing.",
            args_schema=ReadSourcesArgs,
        ),
    )


def search_query(task: str) -> str:
    """The query the offline searcher sends: the task's most frequent content terms."""
    return " ".join(extract_keywords(task, 8)) or clip(task, 200)


# --- searcher ----------------------------------------------------------------------------------------------


def _plan_search(messages: Sequence[BaseMessage], tools: set[str]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "search_knowledge_base",
            {"query": search_query(brief_from_messages(messages).task), "max_results": 5},
        )
    ]


def _render_search(messages: Sequence[BaseMessage]) -> str:
    hits = [
        h for name, value in tool_results(messages) if name == "search_knowledge_base" for h in value or []
    ]
    if not hits:
        return "No document in the knowledge base matches the task."
    return f"Found {len(hits)} relevant source(s): " + "; ".join(h["title"] for h in hits) + "."


def _search_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    hits: list[dict[str, Any]] = []
    queries = []
    for call in output.tool_results:
        if call.name == "search_knowledge_base" and not call.error:
            queries.append(call.args.get("query", ""))
            seen = {h["document_id"] for h in hits}
            hits.extend(h for h in call.value if h["document_id"] not in seen)
    if not queries:
        return []
    lines = [
        f"{n}. **{h['title']}** (`kb:{h['document_id']}`, {h['source']}, score {h['score']:.2f})\n   {h['snippet']}"
        for n, h in enumerate(hits, start=1)
    ]
    content = "\n".join(lines) if lines else "No document in the knowledge base matched."
    return [
        ArtifactDraft(
            kind="search_results",
            title=f"Knowledge-base sources for: {clip(queries[0], 80)}",
            content=f"{content}\n\n{output.text}".strip(),
            metadata={
                "queries": " | ".join(queries),
                "result_count": str(len(hits)),
                "document_ids": ",".join(h["document_id"] for h in hits),
                "search_backend": "local knowledge base",
            },
        )
    ]


# --- analyst -----------------------------------------------------------------------------------------------


def _plan_read(messages: Sequence[BaseMessage], tools: set[str]) -> list[tuple[str, dict[str, Any]]]:
    brief = brief_from_messages(messages)
    ids: list[str] = []
    for artifact in brief.of_kind("search_results"):
        ids.extend(i for i in _DOC_ID.findall(artifact["content"]) if i not in ids)
    if not ids:
        return []
    return [("read_sources", {"document_ids": ids[:5], "query": search_query(brief.task)})]


def _first_sentences(text: str, count: int = 2) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return clip(" ".join(sentences[:count]), 360)


def _render_brief(messages: Sequence[BaseMessage]) -> str:
    brief = brief_from_messages(messages)
    passages = [p for name, value in tool_results(messages) if name == "read_sources" for p in value or []]
    topic = topic_title(brief.task, 4) or "the task"
    sources: dict[str, tuple[int, dict[str, Any]]] = {}
    for passage in passages:
        sources.setdefault(passage["document_id"], (len(sources) + 1, passage))
    lines = [f"# Research brief: {topic}", "", f"**Task:** {clip(brief.task, 300)}", "", "## Key findings"]
    if passages:
        for passage in passages:
            number = sources[passage["document_id"]][0]
            lines.append(f"- {_first_sentences(passage['text'])} [{number}]")
    else:
        lines.append("- The knowledge base holds nothing on this topic; findings need a web search.")
    lines += ["", "## Implications for the campaign"]
    lines.append(f"- Anchor the message on {topic.lower()}; lead with the findings above and cite them.")
    lines.append("- Reuse the sources below in the content team's article.")
    lines += ["", "## Sources"]
    lines += [f"[{n}] {p['title']} ({p['source']})" for n, p in sources.values()] or ["(none)"]
    return "\n".join(lines)


def _brief_artifacts(output: WorkerOutput) -> list[ArtifactDraft]:
    cited = [p["document_id"] for value in output.results_of("read_sources") for p in value]
    return [
        ArtifactDraft(
            kind="research_brief",
            title=_heading(output.text) or "Research brief",
            content=output.text,
            metadata={"sources": ",".join(dict.fromkeys(cited)), "source_count": str(len(set(cited)))},
        )
    ]


def _heading(text: str) -> str:
    match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def research_team(knowledge_base: KnowledgeBase, tool_cache: ToolCache | None = None) -> TeamDefinition:
    """The research team over a knowledge base."""
    search_tool, read_tool = research_tools(knowledge_base, tool_cache)
    searcher = Worker(
        name="searcher",
        description="searches the knowledge base for sources relevant to the task",
        instructions=(
            "You are the research team's searcher. Call search_knowledge_base with one to three focused "
            "queries derived from the task, then answer with one sentence on what you found."
        ),
        tools=(search_tool,),
        offline=TemplateBehaviour(_render_search, _plan_search),
        build_artifacts=_search_artifacts,
    )
    analyst = Worker(
        name="analyst",
        description="reads the sources found and writes a research brief with cited sources",
        instructions=(
            "You are the research team's analyst. Call read_sources with the document ids (kb:...) from the "
            "search results, then write a markdown research brief: a '# Research brief: <topic>' title, "
            "'## Key findings' as bullets each ending with a citation like [1], '## Implications for the "
            "campaign', and '## Sources' listing [n] title (source). Cite only sources you read."
        ),
        tools=(read_tool,),
        offline=TemplateBehaviour(_render_brief, _plan_read),
        build_artifacts=_brief_artifacts,
    )
    return TeamDefinition(
        name=TEAM,
        workers=(searcher, analyst),
        finish_when="once a cited brief exists",
    )
