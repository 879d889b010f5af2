"""Issue 8's "done when": the four services as processes, with TAVILY_BASE_URL, GITHUB_API_URL and X_API_URL
pointing at servers that speak those APIs. A campaign uses them end to end (search results, pages and repository
metrics cited in the brief, a PNG chart), and its X post, once due, is published exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from marketing.social.v1 import social_pb2, social_pb2_grpc
from marketing.supervisor.v1 import review_pb2, review_pb2_grpc, supervisor_pb2, supervisor_pb2_grpc

from common.launcher import ServiceLauncher
from tests.e2e.conftest import grpcurl_json, launch
from tests.fakes.github_api import FakeGitHub, FakeRepository
from tests.fakes.search_apis import FakeTavily
from tests.fakes.social_apis import X_TOKEN, FakeX
from tests.fakes.web_site import FakeWebSite

pytestmark = pytest.mark.e2e

TASK = (
    "Launch campaign for our open-source vector database github.com/qdrant/qdrant: research the market and "
    "competitors, write a blog article, and prepare a post for X."
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Fakes:
    """Every external API of the campaign, on loopback."""

    def __init__(self) -> None:
        self.site = FakeWebSite().start()
        self.tavily = FakeTavily(
            [
                (
                    "Vector database market 2026",
                    self.site.article_url("vector-market-2026"),
                    "The market grew.",
                ),
                (
                    "Open-source engines compared",
                    self.site.article_url("engines-compared"),
                    "Qdrant and more.",
                ),
            ]
        ).start()
        self.github = FakeGitHub(
            [FakeRepository("qdrant/qdrant", stars=25_000, forks=1_700)], token=None
        ).start()
        self.x = FakeX().start()

    def stop(self) -> None:
        for api in (self.site, self.tavily, self.github, self.x):
            api.stop()


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    apis = Fakes()
    yield apis
    apis.stop()


@pytest.fixture(scope="module")
def tool_stack(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceLauncher]:
    root = tmp_path_factory.mktemp("tools-stack")
    launcher = launch(
        root,
        DATA_DIR=str(root / "data"),
        TAVILY_API_KEY=fakes.tavily.api_key,
        TAVILY_BASE_URL=fakes.tavily.url,
        GITHUB_API_URL=fakes.github.url,
        FETCH_ALLOW_PRIVATE_NETWORKS="true",  # the fake web site is on loopback
        X_API_URL=fakes.x.url,
        X_BEARER_TOKEN=X_TOKEN,
        SOCIAL_PUBLISH="live",
        PUBLISHER_POLL_S="0.2",
    )
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="module")
def campaign(tool_stack: ServiceLauncher) -> supervisor_pb2.Workflow:
    with grpc.insecure_channel(tool_stack.processes["supervisor"].address) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        workflow = stub.RunTask(supervisor_pb2.RunTaskRequest(task=TASK), timeout=90).workflow
        # Publishing is live: the posts wait for a person's approval (issue 17) before the workflow completes.
        assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW, workflow.summary
        reviews = review_pb2_grpc.ReviewServiceStub(channel)
        reviews.ApproveReview(review_pb2.ApproveReviewRequest(review_id=workflow.review_id), timeout=10)
        deadline = time.monotonic() + 60
        while (
            workflow.status
            in (
                supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW,
                supervisor_pb2.WORKFLOW_STATUS_RUNNING,
            )
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
            request = supervisor_pb2.GetWorkflowRequest(workflow_id=workflow.id)
            workflow = stub.GetWorkflow(request, timeout=10).workflow
        return workflow


def test_grpcurl_list_tools_shows_the_configured_services(tool_stack: ServiceLauncher) -> None:
    answer = grpcurl_json(
        "-plaintext",
        tool_stack.processes["supervisor"].address,
        "marketing.supervisor.v1.SupervisorService/ListTools",
    )
    configured = {t["name"]: t.get("configured", False) for t in answer["tools"]}
    for name in (
        "web_search",
        "fetch_page",
        "github_repository_metrics",
        "chart_repository_metrics",
        "publish_x",
    ):
        assert configured[name], f"{name} should be configured"
    assert configured["generate_image"] is False  # IMAGE_MODEL is not set
    assert "unavailable_teams" not in answer


def test_campaign_cites_the_search_results_pages_and_repository_metrics(
    campaign: supervisor_pb2.Workflow, fakes: Fakes
) -> None:
    assert campaign.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, campaign.warnings
    by_kind = {}
    for artifact in campaign.artifacts:
        by_kind.setdefault(artifact.kind, []).append(artifact)
    from marketing.team.v1 import team_pb2

    (brief,) = by_kind[team_pb2.ARTIFACT_KIND_RESEARCH_BRIEF]
    assert fakes.site.article_url("vector-market-2026") in brief.content
    assert fakes.site.article_url("engines-compared") in brief.content
    assert "qdrant/qdrant" in brief.content and "25,000" in brief.content.replace("25000", "25,000")
    (chart,) = by_kind[team_pb2.ARTIFACT_KIND_CHART]
    assert chart.mime_type == "image/png" and chart.data.startswith(PNG_SIGNATURE)
    assert by_kind[team_pb2.ARTIFACT_KIND_REPOSITORY_METRICS]
    assert fakes.tavily.calls("POST", "/search"), "the search went to the configured Tavily URL"
    assert fakes.site.calls("GET", r"/articles/.*"), "the top results were fetched"
    assert fakes.github.calls("GET", "/repos/qdrant/qdrant")
    assert fakes.x.tweets() == [], "nothing is posted before its time"


def test_the_due_x_post_is_published_exactly_once(
    campaign: supervisor_pb2.Workflow, tool_stack: ServiceLauncher, fakes: Fakes
) -> None:
    with grpc.insecure_channel(tool_stack.processes["social"].address) as channel:
        social = social_pb2_grpc.SocialServiceStub(channel)
        posts = social.ListScheduledPosts(
            social_pb2.ListScheduledPostsRequest(workflow_id=campaign.id), timeout=10
        ).posts
        x_posts = [p for p in posts if p.platform == social_pb2.PLATFORM_X]
        assert len(x_posts) == 1 and x_posts[0].status == social_pb2.SCHEDULED_POST_STATUS_SCHEDULED
        now = Timestamp()
        now.GetCurrentTime()
        social.ReschedulePost(
            social_pb2.ReschedulePostRequest(post_id=x_posts[0].id, publish_at=now), timeout=10
        )
        published = _wait_for_status(social, x_posts[0].id, social_pb2.SCHEDULED_POST_STATUS_PUBLISHED)
    time.sleep(1.0)  # several more publisher rounds: still one post
    (tweet,) = fakes.x.tweets()
    assert tweet.json() == {"text": x_posts[0].text}
    assert tweet.headers["authorization"] == f"Bearer {X_TOKEN}"
    assert published.external_id and published.external_url.endswith(published.external_id)
    assert not published.dry_run


def _wait_for_status(
    social: social_pb2_grpc.SocialServiceStub, post_id: str, status: int, timeout_s: float = 15
) -> social_pb2.ScheduledPost:
    deadline = time.monotonic() + timeout_s
    while True:
        (post,) = [
            p
            for p in social.ListScheduledPosts(social_pb2.ListScheduledPostsRequest(), timeout=10).posts
            if p.id == post_id
        ]
        if post.status == status or time.monotonic() > deadline:
            assert post.status == status, post
            return post
        time.sleep(0.1)


def test_nothing_configured_lists_the_tools_that_are_off(stack: ServiceLauncher, tmp_path: Path) -> None:
    answer = grpcurl_json(
        "-plaintext",
        stack.processes["supervisor"].address,
        "marketing.supervisor.v1.SupervisorService/ListTools",
    )
    off = {t["name"]: t["status"] for t in answer["tools"] if not t.get("configured")}
    assert {"web_search", "fetch_page", "github_repository_metrics", "generate_image"} <= set(off)
    assert "TAVILY_API_KEY" in off["web_search"] and "GITHUB" in off["github_repository_metrics"]
    assert "IMAGE_MODEL" in off["generate_image"]
