"""Webhook signatures (what a receiver verifies) and the notify_url checks."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import httpx
import pytest

from common import webhooks
from common.webhooks import WebhookRefused, WebhookSender, check_url, sign, url_problem, verify

BODY = b'{"id": "d1", "type": "workflow.completed"}'


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body_and_verifies() -> None:
    header = sign("s3cret", BODY, 1_700_000_000)
    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify("s3cret", header, BODY, now=1_700_000_100)


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [("other", BODY, 1_700_000_000), ("s3cret", BODY + b" ", 1_700_000_000), ("s3cret", BODY, 1_700_000_301)],
    ids=["wrong secret", "changed body", "too old"],
)
def test_a_wrong_secret_a_changed_body_or_an_old_timestamp_does_not_verify(
    secret: str, body: bytes, now: int
) -> None:
    assert not verify(secret, sign("s3cret", BODY, 1_700_000_000), body, now=now)


def test_garbage_signature_headers_do_not_verify() -> None:
    for header in ("", "t=abc,v1=00", "v1=00", "t=1700000000"):
        assert not verify("s3cret", header, BODY, now=1_700_000_000)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/h",
        "http://127.0.0.1:8080/h",
        "https://10.0.0.7/h",
        "http://localhost/h",
        "https:///h",
    ],
)
def test_non_http_and_private_notify_urls_are_refused(url: str) -> None:
    assert url_problem(url, allow_private=False)


def test_private_addresses_are_allowed_when_the_deployment_says_so() -> None:
    assert url_problem("http://127.0.0.1:8080/h", allow_private=True) is None
    assert url_problem("https://example.com/hooks", allow_private=False) is None


async def test_a_name_that_resolves_to_a_private_address_is_refused_when_sending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address]:
        return [ipaddress.IPv4Address("93.184.215.14"), ipaddress.IPv4Address("192.168.1.9")]

    monkeypatch.setattr(webhooks, "resolve", resolve)
    with pytest.raises(WebhookRefused, match="non-public"):  # any private answer refuses the URL
        await check_url("https://hooks.example.test/h", allow_private=False)
    assert str(await check_url("https://hooks.example.test/h", allow_private=True)) == "93.184.215.14"


async def test_a_refused_url_is_recorded_once_and_not_retried() -> None:
    attempts = []

    async def record(attempt: object) -> None:
        attempts.append(attempt)

    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent to a private address")

    sender = WebhookSender("s3cret", backoff_s=0, record=record, transport=httpx.MockTransport(never))
    last = await sender.send("http://10.1.2.3/h", "workflow.completed", {"workflow_id": "w"}, subject="w")
    await sender.aclose()
    assert not last.delivered and last.error.startswith("refused") and len(attempts) == 1
