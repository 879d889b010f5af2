"""The HTTP layer for external APIs against a real HTTP server on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from common.resilience import STATE_OPEN
from common.tools.http import ExternalApi, ExternalServiceError
from tests.conftest import test_settings
from tests.fakes.http_api import FakeApi, Response


@pytest.fixture
def server() -> Iterator[FakeApi]:
    with FakeApi() as api:
        api.route("GET", "/v1/thing", lambda request, match: Response(200, {"ok": True}))
        api.route("POST", "/v1/post", lambda request, match: Response(201, {"id": "1"}))
        api.route(
            "GET", "/v1/big", lambda request, match: Response(200, raw=b"x" * 5000, content_type="text/plain")
        )
        yield api


def make_api(url: str, **overrides: object) -> ExternalApi:
    values: dict[str, object] = {
        "external_max_attempts": 3,
        "external_retry_max_wait_s": 2.0,
        "external_timeout_s": 1.0,
    }
    settings = test_settings(**(values | overrides))
    return ExternalApi.from_settings("thing", url, settings, headers={"authorization": "Bearer k"})


async def test_sends_auth_header_and_returns_answer(server: FakeApi) -> None:
    api = make_api(server.url)
    response = await api.request("GET", "/v1/thing")
    assert response.json() == {"ok": True}
    assert server.calls()[0].headers["authorization"] == "Bearer k"
    assert server.calls()[0].headers["user-agent"].startswith("marketing-agents/")
    await api.aclose()


async def test_429_with_retry_after_is_waited_out_then_retried(server: FakeApi) -> None:
    server.fail(429, {"message": "slow down"}, {"retry-after": "1"}, path="/v1/thing")
    api = make_api(server.url)
    started = time.monotonic()
    response = await api.request("GET", "/v1/thing")
    assert response.status_code == 200
    assert len(server.calls(path="/v1/thing")) == 2
    assert time.monotonic() - started >= 0.9  # the server's Retry-After, not the 0.5 s backoff
    await api.aclose()


async def test_4xx_is_not_retried_and_the_error_names_the_service_and_the_apis_message(
    server: FakeApi,
) -> None:
    server.fail(401, {"message": "Bad credentials"}, path="/v1/thing")
    api = make_api(server.url)
    with pytest.raises(ExternalServiceError) as caught:
        await api.request("GET", "/v1/thing")
    assert str(caught.value) == "thing: HTTP 401 Unauthorized: Bad credentials"
    assert caught.value.status == 401 and not caught.value.retryable
    assert len(server.calls()) == 1
    await api.aclose()


async def test_5xx_is_retried_until_attempts_run_out(server: FakeApi) -> None:
    server.fail(503, {"error": {"message": "overloaded"}}, path="/v1/thing", times=5)
    api = make_api(server.url)
    with pytest.raises(ExternalServiceError, match="thing: HTTP 503 Service Unavailable: overloaded"):
        await api.request("GET", "/v1/thing")
    assert len(server.calls()) == 3
    await api.aclose()


async def test_non_idempotent_call_is_not_retried_after_a_5xx_but_is_after_429(server: FakeApi) -> None:
    api = make_api(server.url)
    server.fail(500, {"detail": "boom"}, path="/v1/post")
    with pytest.raises(ExternalServiceError) as caught:
        await api.request("POST", "/v1/post", json={}, ok=(201,), idempotent=False)
    assert caught.value.delivered is True
    assert len(server.calls("POST")) == 1
    server.fail(429, {"detail": "later"}, {"retry-after": "0"}, path="/v1/post")
    response = await api.request("POST", "/v1/post", json={}, ok=(201,), idempotent=False)
    assert response.status_code == 201 and len(server.calls("POST")) == 3
    await api.aclose()


async def test_timeout_is_reported_with_delivery_unknown(server: FakeApi) -> None:
    server.fail(200, None, path="/v1/post", delay_s=1.5)
    api = make_api(server.url)
    with pytest.raises(ExternalServiceError, match="timed out") as caught:
        await api.request("POST", "/v1/post", json={}, ok=(201,), idempotent=False)
    assert caught.value.delivered is None
    assert len(server.calls("POST")) == 1
    await api.aclose()


async def test_unreachable_service_is_not_delivered_and_named() -> None:
    with FakeApi() as gone:
        url = gone.url
    api = make_api(url, external_max_attempts=1)
    with pytest.raises(ExternalServiceError, match="thing: unreachable") as caught:
        await api.request("GET", "/v1/thing")
    assert caught.value.delivered is False
    await api.aclose()


async def test_exhausted_rate_limit_fails_fast_until_reset(server: FakeApi) -> None:
    reset = str(int(time.time()) + 3600)
    server.fail(
        403,
        {"message": "API rate limit exceeded"},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
        path="/v1/thing",
    )
    api = make_api(server.url)
    started = time.monotonic()
    with pytest.raises(ExternalServiceError, match="thing: HTTP 403 Forbidden: API rate limit exceeded"):
        await api.request("GET", "/v1/thing")
    assert time.monotonic() - started < 1.0  # no wait: the reset is an hour away, beyond the 2 s cap
    with pytest.raises(ExternalServiceError, match="rate limit exhausted; it resets in"):
        await api.request("GET", "/v1/thing")
    assert len(server.calls()) == 1  # the second call never reached the server
    await api.aclose()


async def test_body_over_the_cap_is_refused(server: FakeApi) -> None:
    api = make_api(server.url)
    assert len((await api.request("GET", "/v1/big", max_bytes=10_000)).content) == 5000
    with pytest.raises(ExternalServiceError, match="larger than 1000 bytes"):
        await api.request("GET", "/v1/big", max_bytes=1000)
    await api.aclose()


async def test_breaker_opens_after_failed_calls_and_refuses_without_calling(server: FakeApi) -> None:
    server.fail(502, {"message": "bad gateway"}, path="/v1/thing", times=100)
    api = make_api(server.url, external_max_attempts=1, external_breaker_fail_max=2)
    for _ in range(2):
        with pytest.raises(ExternalServiceError, match="502"):
            await api.request("GET", "/v1/thing")
    assert api.breaker.state == STATE_OPEN
    with pytest.raises(ExternalServiceError, match="thing: failing, calls paused"):
        await api.request("GET", "/v1/thing")
    assert len(server.calls()) == 2
    await api.aclose()


async def test_client_errors_do_not_open_the_breaker(server: FakeApi) -> None:
    server.fail(404, {"message": "Not Found"}, path="/v1/thing", times=10)
    api = make_api(server.url, external_breaker_fail_max=2)
    for _ in range(4):
        with pytest.raises(ExternalServiceError, match="404"):
            await api.request("GET", "/v1/thing")
    assert api.breaker.state != STATE_OPEN
    await api.aclose()


async def test_the_specific_error_message_wins_over_the_generic_one(server: FakeApi) -> None:
    body = {
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "errors": [{"message": "The text is too long."}],
    }
    server.fail(400, body, path="/v1/post")
    api = make_api(server.url)
    with pytest.raises(ExternalServiceError, match=r"thing: HTTP 400 Bad Request: The text is too long\.$"):
        await api.request("POST", "/v1/post", json={}, ok=(201,))
    await api.aclose()


async def test_per_host_breakers_keep_one_failing_site_from_pausing_the_others(server: FakeApi) -> None:
    server.fail(503, {"message": "down"}, path="/v1/thing", times=100)
    settings = test_settings(external_max_attempts=1, external_breaker_fail_max=2, external_timeout_s=1.0)
    web = ExternalApi.from_settings("web", "", settings, breaker_per_host=True)
    failing = f"{server.url}/v1/thing"
    healthy = failing.replace("127.0.0.1", "localhost").replace("/v1/thing", "/v1/big")
    for _ in range(2):
        with pytest.raises(ExternalServiceError, match="503"):
            await web.request("GET", failing)
    with pytest.raises(ExternalServiceError, match="failing, calls paused"):
        await web.request("GET", failing)
    assert web.breaker_for("127.0.0.1").state == STATE_OPEN
    assert (await web.request("GET", healthy)).status_code == 200, "another host is not paused"
    assert web.breaker.state != STATE_OPEN
    await web.aclose()
