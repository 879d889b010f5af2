"""X and LinkedIn publishers through the real HTTP client against fake platforms on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from common.tools.http import ExternalServiceError, ServiceNotConfigured
from social_service.platforms import Platform
from social_service.publishers import Publisher, build_publishers
from tests.conftest import test_settings
from tests.fakes.social_apis import LINKEDIN_TOKEN, X_TOKEN, FakeLinkedIn, FakeX

AUTHOR = "urn:li:organization:5515715"


@pytest.fixture
def x_api() -> Iterator[FakeX]:
    with FakeX() as api:
        yield api


@pytest.fixture
def linkedin_api() -> Iterator[FakeLinkedIn]:
    with FakeLinkedIn() as api:
        yield api


def x_publisher(url: str, token: str = X_TOKEN, **overrides: object) -> Publisher:
    settings = test_settings(
        x_api_url=url,
        x_bearer_token=token,
        external_retry_max_wait_s=3.0,
        external_timeout_s=1.0,
        **overrides,
    )
    return build_publishers(settings)[Platform.X]


def linkedin_publisher(url: str, **overrides: object) -> Publisher:
    values: dict[str, object] = {
        "linkedin_api_url": url,
        "linkedin_access_token": LINKEDIN_TOKEN,
        "linkedin_author_urn": AUTHOR,
        "linkedin_version": "202510",
        **overrides,
    }
    return build_publishers(test_settings(**values))[Platform.LINKEDIN]


async def test_x_post_sends_bearer_token_and_text_and_returns_the_post_url(x_api: FakeX) -> None:
    publisher = x_publisher(x_api.url)
    published = await publisher.publish("Hello from the tests #launch")
    [call] = x_api.tweets()
    assert call.headers["authorization"] == f"Bearer {X_TOKEN}"
    assert call.json() == {"text": "Hello from the tests #launch"}
    assert published.external_id in x_api.posts
    assert published.url == f"https://x.com/i/web/status/{published.external_id}"
    await publisher.api.aclose()


async def test_linkedin_post_sends_versioned_restli_request_and_reads_the_urn_header(
    linkedin_api: FakeLinkedIn,
) -> None:
    publisher = linkedin_publisher(linkedin_api.url)
    published = await publisher.publish("Our plan, step by step.")
    [call] = linkedin_api.created()
    assert call.headers["authorization"] == f"Bearer {LINKEDIN_TOKEN}"
    assert call.headers["linkedin-version"] == "202510"
    assert call.headers["x-restli-protocol-version"] == "2.0.0"
    assert call.json() == {
        "author": AUTHOR,
        "commentary": "Our plan, step by step.",
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    assert published.external_id.startswith("urn:li:share:")
    assert published.url == f"https://www.linkedin.com/feed/update/{published.external_id}"
    await publisher.api.aclose()


async def test_linkedin_without_author_urn_is_not_configured_and_sends_nothing(
    linkedin_api: FakeLinkedIn,
) -> None:
    publisher = linkedin_publisher(linkedin_api.url, linkedin_author_urn=None)
    assert not publisher.configured and "LINKEDIN_AUTHOR_URN" in publisher.missing
    with pytest.raises(ServiceNotConfigured, match="LINKEDIN_AUTHOR_URN") as caught:
        await publisher.publish("text")
    assert caught.value.delivered is False
    assert linkedin_api.requests == []


def test_platforms_are_configured_by_token_or_url_and_default_to_the_real_apis() -> None:
    publishers = build_publishers(test_settings())
    assert not publishers[Platform.X].configured and "X_BEARER_TOKEN" in publishers[Platform.X].missing
    assert not publishers[Platform.LINKEDIN].configured
    assert publishers[Platform.X].request_for("hi").url == "https://api.x.com/2/tweets"
    assert publishers[Platform.LINKEDIN].request_for("hi").url == "https://api.linkedin.com/rest/posts"
    assert "dry-run" in publishers[Platform.X].status(dry_run=True)
    configured = build_publishers(test_settings(x_bearer_token="t"))[Platform.X]
    assert (
        configured.configured
        and configured.status(dry_run=False) == "live: publishes to x at https://api.x.com"
    )
    assert configured.request_for("hi").to_dict()["headers"]["authorization"] == "Bearer <redacted>"


async def test_x_429_with_retry_after_is_waited_out_then_published_once(x_api: FakeX) -> None:
    x_api.fail(
        429,
        {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
        {"retry-after": "1", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(time.time()) + 1)},
        path="/2/tweets",
    )
    publisher = x_publisher(x_api.url)
    started = time.monotonic()
    published = await publisher.publish("rate limited at first")
    assert time.monotonic() - started >= 0.9
    assert len(x_api.tweets()) == 2 and list(x_api.posts) == [published.external_id]
    await publisher.api.aclose()


async def test_x_401_is_a_clear_error_naming_the_platform_and_is_not_retried(x_api: FakeX) -> None:
    publisher = x_publisher(x_api.url, token="wrong")
    with pytest.raises(ExternalServiceError) as caught:
        await publisher.publish("text")
    assert str(caught.value) == "x: HTTP 401 Unauthorized: Unauthorized"
    assert caught.value.status == 401 and len(x_api.tweets()) == 1


async def test_linkedin_error_body_message_is_reported(linkedin_api: FakeLinkedIn) -> None:
    publisher = linkedin_publisher(linkedin_api.url, linkedin_access_token="expired")
    with pytest.raises(ExternalServiceError, match="linkedin: HTTP 401 Unauthorized: Invalid access token"):
        await publisher.publish("text")
    await publisher.api.aclose()


@pytest.mark.parametrize(("status", "delay_s"), [(503, 0.0), (200, 2.0)], ids=["5xx", "timeout"])
async def test_x_5xx_or_timeout_is_not_retried_and_the_outcome_is_unknown(
    x_api: FakeX, status: int, delay_s: float
) -> None:
    x_api.fail(status, {"title": "Service Unavailable", "detail": "busy"}, path="/2/tweets", delay_s=delay_s)
    publisher = x_publisher(x_api.url)
    with pytest.raises(ExternalServiceError) as caught:
        await publisher.publish("may or may not be live")
    assert len(x_api.tweets()) == 1, "a post that may have been acted on is never re-sent"
    assert caught.value.delivered is (True if delay_s == 0 else None)
    await publisher.api.aclose()
