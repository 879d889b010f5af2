"""Each team service over real gRPC on loopback: the uniform TeamService, its own RPCs, health and validation."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from marketing.content.v1 import content_pb2, content_pb2_grpc
from marketing.research.v1 import research_pb2, research_pb2_grpc
from marketing.social.v1 import social_pb2, social_pb2_grpc
from marketing.team.v1 import team_pb2, team_pb2_grpc

from social_service.platforms import Platform, post_length
from tests.conftest import bad_request_fields

TASK = "Launch campaign for our open-source vector database on LinkedIn"


async def run_brief(channel: grpc.aio.Channel, task: str, upstream=()) -> team_pb2.BriefResult:
    stub = team_pb2_grpc.TeamServiceStub(channel)
    brief = team_pb2.Brief(workflow_id="wf-test", task=task, upstream_artifacts=list(upstream))
    response = await stub.RunBrief(team_pb2.RunBriefRequest(brief=brief), timeout=20)
    return response.result


def kinds(result: team_pb2.BriefResult) -> list[str]:
    return [team_pb2.ArtifactKind.Name(a.kind) for a in result.artifacts]


async def test_research_team_searches_then_writes_a_cited_brief(team_servers, channel_to) -> None:
    result = await run_brief(channel_to(team_servers["research"]), "Research the vector database market")
    assert result.team == "research"
    assert kinds(result) == ["ARTIFACT_KIND_SEARCH_RESULTS", "ARTIFACT_KIND_RESEARCH_BRIEF"]
    assert all(a.team == "research" for a in result.artifacts)
    brief = result.artifacts[1]
    assert "[1]" in brief.content and "## Sources" in brief.content
    assert "Vector Databases" in brief.content
    assert int(brief.metadata["source_count"]) >= 1
    lead_choices = [s.next for s in result.steps if s.kind == team_pb2.AGENT_STEP_KIND_ROUTING]
    assert lead_choices == ["searcher", "analyst", "FINISH"]
    assert all(s.team == "research" for s in result.steps)


async def test_content_team_uses_upstream_research(team_servers, channel_to) -> None:
    research = await run_brief(channel_to(team_servers["research"]), TASK)
    result = await run_brief(channel_to(team_servers["content"]), TASK, research.artifacts)
    assert kinds(result) == ["ARTIFACT_KIND_ARTICLE", "ARTIFACT_KIND_SEO_REPORT"]
    article, report = result.artifacts
    assert article.content.startswith("# ")
    assert "Meta description:" in article.content
    assert "[1]" in article.content, "the article should carry the research brief's citations"
    assert report.metadata["article_id"] == article.id
    assert 0 <= int(report.metadata["score"]) <= 100
    assert "offline model" in article.content


async def test_social_team_drafts_only_the_named_platform_within_limits(team_servers, channel_to) -> None:
    result = await run_brief(channel_to(team_servers["social"]), TASK)
    posts = [a for a in result.artifacts if a.kind == team_pb2.ARTIFACT_KIND_SOCIAL_POST]
    assert [p.metadata["platform"] for p in posts] == ["linkedin"]
    assert post_length(posts[0].content, Platform.LINKEDIN) <= 3000
    schedule = [a for a in result.artifacts if a.kind == team_pb2.ARTIFACT_KIND_POSTING_SCHEDULE]
    assert len(schedule) == 1 and "linkedin@" in schedule[0].metadata["slots"]


async def test_social_team_defaults_to_both_platforms_and_fits_x(team_servers, channel_to) -> None:
    long_task = "Promote our release: " + "an extraordinarily long announcement sentence " * 30
    result = await run_brief(channel_to(team_servers["social"]), long_task)
    posts = {
        a.metadata["platform"]: a for a in result.artifacts if a.kind == team_pb2.ARTIFACT_KIND_SOCIAL_POST
    }
    assert set(posts) == {"x", "linkedin"}
    assert post_length(posts["x"].content, Platform.X) <= 280


async def test_stream_brief_streams_steps_and_artifacts_then_the_result(team_servers, channel_to) -> None:
    stub = team_pb2_grpc.TeamServiceStub(channel_to(team_servers["content"]))
    request = team_pb2.StreamBriefRequest(brief=team_pb2.Brief(task="Write a blog article about embeddings"))
    events = [event async for event in stub.StreamBrief(request, timeout=20)]
    which = [e.WhichOneof("event") for e in events]
    assert which[-1] == "result" and which.count("result") == 1
    streamed = [e.artifact.id for e in events if e.HasField("artifact")]
    assert streamed == [a.id for a in events[-1].result.artifacts]
    assert which.count("step") == len(events[-1].result.steps)


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (team_pb2.RunBriefRequest(), "brief"),
        (team_pb2.RunBriefRequest(brief=team_pb2.Brief(task="   \n ")), "brief.task"),
        (team_pb2.RunBriefRequest(brief=team_pb2.Brief(task="x" * 20_001)), "brief.task"),
        (team_pb2.RunBriefRequest(brief=team_pb2.Brief(task="hi\x00there")), "brief.task"),
    ],
)
async def test_bad_briefs_are_invalid_argument(team_servers, channel_to, request_message, field) -> None:
    stub = team_pb2_grpc.TeamServiceStub(channel_to(team_servers["research"]))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RunBrief(request_message, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in bad_request_fields(caught.value)


async def test_search_knowledge_base_rpc(team_servers, channel_to) -> None:
    stub = research_pb2_grpc.ResearchServiceStub(channel_to(team_servers["research"]))
    response = await stub.SearchKnowledgeBase(
        research_pb2.SearchKnowledgeBaseRequest(query="best time to post on linkedin"), timeout=5
    )
    assert 1 <= len(response.results) <= 5
    assert "post" in response.results[0].title.lower() or "linkedin" in response.results[0].title.lower()
    assert [r.score for r in response.results] == sorted((r.score for r in response.results), reverse=True)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SearchKnowledgeBase(research_pb2.SearchKnowledgeBaseRequest(query="", max_results=51))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad_request_fields(caught.value)) == {"query", "max_results"}


async def test_analyze_seo_rpc_computes_figures(team_servers, channel_to) -> None:
    stub = content_pb2_grpc.ContentServiceStub(channel_to(team_servers["content"]))
    text = "# Vector search for everyone\n\n## Why\n\n" + "Vector search finds similar items fast. " * 25
    response = await stub.AnalyzeSeo(content_pb2.AnalyzeSeoRequest(text=text, keywords=["vector search"]))
    report = response.report
    assert report.title == "Vector search for everyone"
    assert report.title_length == len("Vector search for everyone")
    assert [h.level for h in report.headings] == [1, 2]
    assert report.keyword_densities[0].occurrences == 26
    assert any("meta description" in issue.lower() for issue in report.issues)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.AnalyzeSeo(content_pb2.AnalyzeSeoRequest(text=" "))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_draft_post_rpc_respects_x_limit(team_servers, channel_to) -> None:
    stub = social_pb2_grpc.SocialServiceStub(channel_to(team_servers["social"]))
    response = await stub.DraftPost(
        social_pb2.DraftPostRequest(
            platform=social_pb2.PLATFORM_X, text="word " * 200, hashtags=["AI", "#ml"]
        )
    )
    assert response.post.length <= 280 == response.post.limit
    assert response.post.truncated
    assert post_length(response.post.text, Platform.X) == response.post.length
    for bad in (social_pb2.PLATFORM_UNSPECIFIED, 99):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.DraftPost(social_pb2.DraftPostRequest(platform=bad, text="hello"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "platform" in bad_request_fields(caught.value)


async def test_health_reports_each_service(team_servers, channel_to) -> None:
    stub = health_pb2_grpc.HealthStub(channel_to(team_servers["research"]))
    for service in ("", "marketing.team.v1.TeamService", "marketing.research.v1.ResearchService"):
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Check(
            health_pb2.HealthCheckRequest(service="marketing.social.v1.SocialService"), timeout=5
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_usage_is_reported_per_step_and_in_total(team_servers, channel_to) -> None:
    result = await run_brief(channel_to(team_servers["content"]), "Write a blog article about embeddings")
    total = result.usage
    # team lead x3 (writer, seo_analyst, FINISH) + writer x1 + seo_analyst x2 (tool call, then text)
    assert total.model_calls == 6
    assert total.input_tokens > 0 and total.output_tokens > 0
    assert total.cost_usd == 0.0
    assert [(m.model, m.calls, m.priced) for m in total.models] == [("offline", 6, True)]
    per_step = [(s.agent, s.usage.model_calls) for s in result.steps]
    assert per_step == [
        ("team_lead", 1),
        ("writer", 1),
        ("team_lead", 1),
        ("seo_analyst", 2),
        ("team_lead", 1),
    ]
    assert sum(s.usage.input_tokens for s in result.steps) == total.input_tokens


async def test_stream_brief_streams_worker_text_only_when_asked(team_servers, channel_to) -> None:
    stub = team_pb2_grpc.TeamServiceStub(channel_to(team_servers["content"]))
    brief = team_pb2.Brief(task="Write a blog article about embeddings")
    quiet = [e async for e in stub.StreamBrief(team_pb2.StreamBriefRequest(brief=brief), timeout=20)]
    assert not any(e.HasField("text_delta") for e in quiet)
    events = [e async for e in stub.StreamBrief(team_pb2.StreamBriefRequest(brief=brief, stream_text=True))]
    deltas = [e.text_delta for e in events if e.HasField("text_delta")]
    assert len(deltas) > 10 and {d.team for d in deltas} == {"content"}
    assert {d.agent for d in deltas} <= {"writer", "seo_analyst"}, "routing output is never streamed as text"
    article = events[-1].result.artifacts[0]
    writer_text = "".join(d.text for d in deltas if d.agent == "writer")
    assert writer_text.strip() == article.content.strip()
