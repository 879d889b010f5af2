"""The research service in process with fake Tavily, GitHub and web site: a brief naming repositories ends in a
research brief citing the web results and the repository metrics, with a PNG chart; ListTools shows the tools."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from marketing.team.v1 import team_pb2, team_pb2_grpc
from PIL import Image

from research_service.__main__ import build
from tests.conftest import start_service, test_settings
from tests.fakes.github_api import FakeGitHub, FakeRepository
from tests.fakes.search_apis import FakeTavily
from tests.fakes.web_site import ARTICLE_SENTENCE, FakeWebSite

TASK = (
    "Research the vector database market and compare the GitHub repositories github.com/qdrant/qdrant "
    "and weaviate/weaviate"
)


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTavily, FakeGitHub, FakeWebSite]]:
    with FakeWebSite() as site:
        hits = [
            (
                "Vector database market report",
                site.article_url("vector-market-report"),
                "Market grew in 2026.",
            ),
            (
                "Engines compared",
                site.article_url("engines-compared"),
                "Qdrant, Weaviate and Milvus compared.",
            ),
        ]
        repositories = [
            FakeRepository("qdrant/qdrant", stars=25_000, forks=1_700, contributors=157),
            FakeRepository("weaviate/weaviate", stars=13_000, forks=900, contributors=120, release="v1.30.0"),
        ]
        with FakeTavily(hits) as tavily, FakeGitHub(repositories) as github:
            yield tavily, github, site


@asynccontextmanager
async def research_stub(**settings: Any) -> AsyncIterator[team_pb2_grpc.TeamServiceStub]:
    server = await start_service("research", build, test_settings(**settings))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield team_pb2_grpc.TeamServiceStub(channel)
    finally:
        await server.stop(0)


async def run(stub: team_pb2_grpc.TeamServiceStub, task: str) -> team_pb2.BriefResult:
    brief = team_pb2.Brief(workflow_id="wf-research-tools", task=task)
    return (await stub.RunBrief(team_pb2.RunBriefRequest(brief=brief), timeout=30)).result


async def test_a_brief_naming_repositories_uses_web_search_pages_and_github(fakes) -> None:
    tavily, github, site = fakes
    configured = {
        "tavily_api_key": "tvly-test", "tavily_base_url": tavily.url, "github_api_url": github.url,
        "github_token": "ghp_test", "fetch_allow_private_networks": True,
    }  # fmt: skip
    async with research_stub(**configured) as stub:
        result = await run(stub, TASK)
        tools = {t.name: t for t in (await stub.ListTools(team_pb2.ListToolsRequest(), timeout=5)).tools}

    by_kind = {team_pb2.ArtifactKind.Name(a.kind): a for a in result.artifacts}
    assert list(by_kind) == [
        "ARTIFACT_KIND_SEARCH_RESULTS",
        "ARTIFACT_KIND_REPOSITORY_METRICS",
        "ARTIFACT_KIND_CHART",
        "ARTIFACT_KIND_RESEARCH_BRIEF",
    ]
    routes = [s.next for s in result.steps if s.kind == team_pb2.AGENT_STEP_KIND_ROUTING]
    assert routes == ["searcher", "data_analyst", "analyst", "FINISH"]

    search = by_kind["ARTIFACT_KIND_SEARCH_RESULTS"]
    assert search.metadata["web_search"] == "tavily"
    assert site.article_url("vector-market-report") in search.content and "kb:" in search.content
    assert len(tavily.calls("POST", "/search")) == 1

    metrics = by_kind["ARTIFACT_KIND_REPOSITORY_METRICS"]
    assert metrics.metadata["repositories"] == "qdrant/qdrant,weaviate/weaviate"
    assert "| [qdrant/qdrant](https://github.com/qdrant/qdrant) | 25000 | 1700 |" in metrics.content
    assert int(metrics.metadata["github_rate_limit_remaining"]) < 5000
    assert "<<untrusted" in metrics.content, "repository descriptions are fenced"

    chart = by_kind["ARTIFACT_KIND_CHART"]
    assert chart.mime_type == "image/png" and chart.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(chart.data)).format == "PNG"
    assert "| qdrant/qdrant |" in chart.content and "Trend" in chart.content
    assert len(github.calls(path="/repos/qdrant/qdrant")) == 1, "the chart reuses the metrics just fetched"
    assert len(github.calls(path="/repos/qdrant/qdrant/stats/commit_activity")) == 1

    brief = by_kind["ARTIFACT_KIND_RESEARCH_BRIEF"]
    text = brief.content
    assert "## Sources" in text and "## Repository metrics" in text
    sources = text.split("## Sources", 1)[1]
    assert f"Vector Market Report — {site.article_url('vector-market-report')}" in sources
    assert site.article_url("engines-compared") in sources
    assert "GitHub repository qdrant/qdrant — https://github.com/qdrant/qdrant" in sources
    assert "GitHub repository weaviate/weaviate" in sources
    assert ARTICLE_SENTENCE.split(" so ")[0] in text, "findings come from the fetched pages"
    assert "NAVIGATION-BOILERPLATE" not in text and "<<untrusted" not in text
    assert "25000" in text and "13000" in text
    assert site.article_url("engines-compared") in brief.metadata["web_sources"]
    assert brief.metadata["pages_read"] == "2"
    assert sorted(r.path for r in site.calls()) == [
        "/articles/engines-compared",
        "/articles/vector-market-report",
    ]
    for summary in (s.summary for s in result.steps):
        assert "Vector Market Report" not in summary, "page titles never reach the team lead"

    assert all(
        tools[n].configured
        for n in ("web_search", "fetch_page", "github_repository_metrics", "chart_repository_metrics")
    )
    assert tools["web_search"].service == "tavily" and tavily.url in tools["web_search"].status
    assert list(tools["github_repository_metrics"].agents) == ["data_analyst"]


async def test_without_external_services_the_team_works_offline_and_says_so() -> None:
    async with research_stub() as stub:
        result = await run(stub, "Research the vector database market")
        tools = {t.name: t for t in (await stub.ListTools(team_pb2.ListToolsRequest(), timeout=5)).tools}
        repos = await run(stub, "Compare the GitHub repositories qdrant/qdrant and weaviate/weaviate")

    kinds = [team_pb2.ArtifactKind.Name(a.kind) for a in result.artifacts]
    assert kinds == ["ARTIFACT_KIND_SEARCH_RESULTS", "ARTIFACT_KIND_RESEARCH_BRIEF"]
    search, brief = result.artifacts
    assert (
        "Web search off: set TAVILY_API_KEY/TAVILY_BASE_URL or SERPER_API_KEY/SERPER_BASE_URL"
        in search.content
    )
    assert search.metadata["web_search"] == "off"
    assert "[1]" in brief.content and "Vector Databases" in brief.content
    assert "Web search off: set TAVILY_API_KEY" in brief.content

    assert tools["search_knowledge_base"].configured and tools["read_sources"].configured
    for name, variable in [("web_search", "TAVILY_API_KEY"), ("fetch_page", "TAVILY_API_KEY"),
                           ("github_repository_metrics", "GITHUB_TOKEN"), ("chart_repository_metrics", "GITHUB_TOKEN")]:  # fmt: skip
        assert not tools[name].configured and variable in tools[name].status, name
    assert tools["web_search"].status.startswith("off:")

    steps = {s.agent: s for s in repos.steps if s.kind == team_pb2.AGENT_STEP_KIND_WORK}
    assert steps["data_analyst"].artifact_ids and not steps["data_analyst"].error
    assert [team_pb2.ArtifactKind.Name(a.kind) for a in repos.artifacts] == [
        "ARTIFACT_KIND_SEARCH_RESULTS",
        "ARTIFACT_KIND_REPOSITORY_METRICS",
        "ARTIFACT_KIND_RESEARCH_BRIEF",
    ]
    _, off, repo_brief = repos.artifacts
    assert off.metadata["github"] == "off" and off.content.count("GitHub metrics off: set GITHUB_TOKEN") == 1
    assert "qdrant/qdrant" in off.content and not off.data
    assert "## Repository metrics\n_GitHub metrics off: set GITHUB_TOKEN" in repo_brief.content


async def test_a_failing_search_provider_leaves_the_knowledge_base_brief(fakes) -> None:
    tavily, _, _ = fakes
    tavily.fail(500, {"detail": {"error": "Internal error"}}, path="/search", times=10)
    async with research_stub(
        tavily_api_key="tvly-test", tavily_base_url=tavily.url, external_max_attempts=2
    ) as stub:
        result = await run(stub, "Research the vector database market")
    search, brief = result.artifacts
    assert search.metadata["web_search"] == "failed"
    assert "Web search failed: ExternalServiceError: tavily: HTTP 500" in search.content
    assert len(tavily.calls("POST", "/search")) == 2, "5xx is retried, then the searcher goes on"
    assert "Vector Databases" in brief.content and "[1]" in brief.content
