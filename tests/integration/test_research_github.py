"""GitHub repository metrics through the real client against a fake GitHub API on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from common.tools.http import ExternalServiceError
from common.tools.untrusted import OPEN, unfence
from research_service.github_metrics import GitHubMetrics
from tests.conftest import test_settings
from tests.fakes.github_api import FakeGitHub, FakeRepository


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    repositories = [
        FakeRepository("qdrant/qdrant", stars=25_000, forks=1_700, contributors=157),
        FakeRepository("acme/new", stars=3, forks=0, contributors=1, release=None, computing=1),
        FakeRepository("acme/busy", computing=100),
    ]
    with FakeGitHub(repositories) as api:
        yield api


def client(github: FakeGitHub, token: str | None = "ghp_test", **overrides: object) -> GitHubMetrics:
    settings = test_settings(
        **(
            {"github_api_url": github.url, "github_token": token, "external_retry_max_wait_s": 2.0}
            | overrides
        )
    )
    metrics = GitHubMetrics.from_settings(settings)
    metrics.stats_wait_s = 0.05
    return metrics


def test_off_without_token_or_url() -> None:
    metrics = GitHubMetrics.from_settings(test_settings())
    assert not metrics.configured and "GITHUB_TOKEN" in metrics.status


async def test_metrics_of_a_repository(github: FakeGitHub) -> None:
    metrics = client(github)
    result = await metrics.metrics("https://github.com/qdrant/qdrant")
    await metrics.aclose()
    assert result["repository"] == "qdrant/qdrant"
    assert (result["stars"], result["forks"], result["open_issues"], result["watchers"]) == (
        25_000,
        1_700,
        5,
        7,
    )
    assert result["contributors"] == 157, "read from the Link header's last page"
    assert result["latest_release"]["tag"] == "v1.0.0"
    assert result["license"] == "Apache-2.0" and result["language"] == "Rust"
    assert result["commit_activity"]["status"] == "ok" and len(result["commit_activity"]["weeks"]) == 52
    assert result["description"].startswith(OPEN) and "Ignore all previous" in unfence(result["description"])
    assert int(result["rate_limit_remaining"]) < 5000
    paths = sorted(r.path for r in github.calls())
    assert paths == ["/repos/qdrant/qdrant", "/repos/qdrant/qdrant/contributors",
                     "/repos/qdrant/qdrant/releases/latest", "/repos/qdrant/qdrant/stats/commit_activity"]  # fmt: skip
    for request in github.calls():
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.headers["authorization"] == "Bearer ghp_test"
    (contributors,) = github.calls(path=".*/contributors")
    assert contributors.query == {"per_page": ["1"], "anon": ["true"]}


async def test_no_release_and_stats_computing_then_ready(github: FakeGitHub) -> None:
    metrics = client(github)
    result = await metrics.metrics("acme/new")
    assert result["latest_release"] is None
    assert result["contributors"] == 1, "a single page has no Link header: the body is counted"
    assert result["commit_activity"]["status"] == "ok"
    assert len(github.calls(path="/repos/acme/new/stats/commit_activity")) == 2, "202 then 200"
    busy = await metrics.metrics("acme/busy")
    assert busy["commit_activity"]["status"].startswith("not yet computed")
    assert busy["commit_activity"]["weeks"] == []
    assert len(github.calls(path="/repos/acme/busy/stats/commit_activity")) == metrics.stats_attempts
    await metrics.aclose()


async def test_conditional_requests_reuse_the_body_on_304(github: FakeGitHub) -> None:
    metrics = client(github)
    first = await metrics.metrics("qdrant/qdrant")
    remaining = github.remaining
    second = await metrics.metrics("Qdrant/Qdrant")
    await metrics.aclose()
    first.pop("rate_limit_remaining"), second.pop("rate_limit_remaining")
    assert second == first
    (repeated,) = github.calls(path="/repos/Qdrant/Qdrant")
    assert repeated.headers["if-none-match"].startswith('W/"')
    assert github.remaining == remaining, "every second request was answered 304, which costs no quota"
    assert all("if-none-match" in r.headers for r in github.requests[4:])


async def test_unknown_repository_and_bad_credentials(github: FakeGitHub) -> None:
    metrics = client(github)
    with pytest.raises(ExternalServiceError, match=r"^github: repository acme/missing not found$"):
        await metrics.metrics("acme/missing")
    with pytest.raises(ValueError, match="not a GitHub repository name"):
        await metrics.metrics("acme/missing/extra")
    bad = client(github, token="wrong")
    with pytest.raises(ExternalServiceError, match=r"^github: HTTP 401.*Bad credentials"):
        await bad.metrics("qdrant/qdrant")
    assert len(github.calls(path="/repos/acme/missing")) == 1, "404 is not retried"
    await metrics.aclose()
    await bad.aclose()


async def test_without_a_token_no_authorization_is_sent(github: FakeGitHub) -> None:
    github.token = None
    metrics = client(github, token=None)
    assert "no token" in metrics.status
    await metrics.metrics("qdrant/qdrant")
    assert all("authorization" not in r.headers for r in github.calls())
    await metrics.aclose()


async def test_429_with_retry_after_then_success(github: FakeGitHub) -> None:
    github.fail(429, {"message": "secondary rate limit"}, {"retry-after": "1"}, path="/repos/qdrant/qdrant")
    metrics = client(github)
    started = time.monotonic()
    result = await metrics.metrics("qdrant/qdrant")
    assert time.monotonic() - started >= 0.9 and result["stars"] == 25_000
    assert len(github.calls(path="/repos/qdrant/qdrant")) == 2
    await metrics.aclose()


async def test_exhausted_rate_limit_fails_fast_naming_github(github: FakeGitHub) -> None:
    metrics = client(github, external_retry_max_wait_s=0.2)
    github.exhaust(reset_in_s=3600)
    with pytest.raises(ExternalServiceError, match=r"^github: .*rate limit"):
        await metrics.metrics("qdrant/qdrant")
    count = len(github.calls())
    started = time.monotonic()
    with pytest.raises(ExternalServiceError, match=r"^github: rate limit exhausted; it resets in \d+ s"):
        await metrics.metrics("qdrant/qdrant")
    assert time.monotonic() - started < 0.5 and len(github.calls()) == count, "no request is sent"
    await metrics.aclose()


async def test_a_short_rate_limit_reset_is_waited_out(github: FakeGitHub) -> None:
    metrics = client(github, external_retry_max_wait_s=3.0)
    github.exhaust(reset_in_s=1.2)
    result = await metrics.metrics("qdrant/qdrant")
    assert result["stars"] == 25_000
    assert github.calls(path="/repos/qdrant/qdrant")[0] is not github.calls(path="/repos/qdrant/qdrant")[-1]
    assert result["rate_limit_remaining"] is not None and int(result["rate_limit_remaining"]) > 0
    await metrics.aclose()


async def test_too_large_contributor_list_leaves_the_count_unknown(github: FakeGitHub) -> None:
    message = (
        "The history or contributor list is too large to list contributors for this repository via the API."
    )
    github.fail(
        403, {"message": message, "documentation_url": "https://docs.github.com"}, path=".*/contributors"
    )
    metrics = client(github)
    result = await metrics.metrics("qdrant/qdrant")
    assert result["contributors"] is None and result["stars"] == 25_000
    await metrics.aclose()
