"""REST end to end: the gateway in front of the in-process supervisor with authentication on, two tenants."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from marketing.admin.v1 import admin_pb2

from common.storage import open_store
from tests.conftest import authenticated_stack, in_process_stack, tenant_api_key, test_settings
from tests.integration.gateway_stack import CAMPAIGN, bearer, campaign_awaiting_review, running_gateway


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[tuple[str, dict[str, Any], Any]]:
    settings = test_settings(auth_disabled=False, gateway_cors_origins=["https://app.example.com"])
    async with authenticated_stack(settings, ["acme", "globex"]) as (channel, keys):
        async with running_gateway(settings, channel) as url:
            reviewer = await tenant_api_key(settings, "acme")  # not the submitter: no self-approval
            headers = {t: bearer(m) for t, m in keys.items()}
            yield url, {**headers, "acme-reviewer": bearer(reviewer)}, (channel, keys)


@pytest.fixture(scope="module")
async def awaiting(gateway: tuple[str, dict[str, Any], Any]) -> Any:
    """acme's campaign stopped at a review."""
    _, _, (channel, keys) = gateway
    return await campaign_awaiting_review(channel, keys["acme"])


async def test_submit_with_wait_returns_the_stopped_workflow_and_lists_it(gateway: Any) -> None:
    url, headers, _ = gateway
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        body = {"task": CAMPAIGN, "priority": "PRIORITY_HIGH", "request_id": "rest-1",
                "approval_policy": "APPROVAL_POLICY_BEFORE_PUBLISHING"}  # fmt: skip
        answer = await http.post("/v1/tasks?wait=true", json=body, headers=headers["acme"])
        assert answer.status_code == 200, answer.text
        workflow = answer.json()["workflow"]
        assert workflow["status"] == "WORKFLOW_STATUS_AWAITING_REVIEW"
        assert workflow["priority"] == "PRIORITY_HIGH" and workflow["review_id"]
        listed = (await http.get("/v1/workflows", headers=headers["acme"])).json()
        assert workflow["id"] in [w["id"] for w in listed["workflows"]]
        one = (await http.get(f"/v1/workflows/{workflow['id']}", headers=headers["acme"])).json()
        assert one["workflow"]["task"] == CAMPAIGN
        again = await http.post("/v1/tasks", json=body, headers=headers["acme"])
        assert again.json()["created"] is False and again.json()["workflow"]["id"] == workflow["id"]


async def test_grpc_errors_become_problem_details(gateway: Any) -> None:
    url, headers, _ = gateway
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        anonymous = await http.get("/v1/workflows")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.headers["content-type"] == "application/problem+json"
        assert anonymous.json()["grpc_code"] == "UNAUTHENTICATED"
        missing = await http.get(
            "/v1/workflows/6f0c1b1e-0000-4000-8000-000000000000", headers=headers["acme"]
        )
        assert missing.status_code == 404 and missing.json()["title"] == "Not Found"
        bad = await http.post(
            "/v1/tasks", json={"task": "x", "notify_url": "ftp://example.com"}, headers=headers["acme"]
        )
        assert bad.status_code == 400, bad.text
        assert "notify_url" in [v["field"] for v in bad.json()["violations"]]
        unknown = await http.post("/v1/tasks", json={"task": "x", "colour": "red"}, headers=headers["acme"])
        assert unknown.status_code == 422 and unknown.json()["violations"]
        assert "traceback" not in unknown.text.lower()


async def test_review_approve_with_an_over_long_edit_then_a_fixed_one(gateway: Any, awaiting: Any) -> None:
    url, headers, _ = gateway
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        pending = (await http.get("/v1/reviews?status=REVIEW_STATUS_PENDING", headers=headers["acme"])).json()
        assert awaiting.review_id in [r["id"] for r in pending["reviews"]]
        review = (await http.get(f"/v1/reviews/{awaiting.review_id}", headers=headers["acme"])).json()[
            "review"
        ]
        x_item = next(i["item"] for i in review["items"] if i["item"].get("platform") == "x")
        too_long = {
            "edits": [{"artifact_id": x_item["artifact_id"], "text": "y" * (x_item["max_length"] + 1)}]
        }
        refused = await http.post(
            f"/v1/reviews/{awaiting.review_id}:approve", json=too_long, headers=headers["acme-reviewer"]
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["violations"], refused.text
        fixed = {
            "edits": [{"artifact_id": x_item["artifact_id"], "text": "Our vector database is open source."}]
        }
        approved = await http.post(
            f"/v1/reviews/{awaiting.review_id}:approve", json=fixed, headers=headers["acme-reviewer"]
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["review"]["status"] == "REVIEW_STATUS_APPROVED"
        events = await _events(http, f"/v1/workflows/{awaiting.id}/events", headers["acme"])
        assert events[-1][1] == "done" and "WORKFLOW_STATUS_AWAITING_REVIEW" in events[-1][2]
        resumed = await _events(
            http, f"/v1/workflows/{awaiting.id}/events", {**headers["acme"], "last-event-id": events[1][0]}
        )
        assert [e[0] for e in resumed] == [e[0] for e in events[2:]]
        after_review = await _events(
            http, f"/v1/workflows/{awaiting.id}/events?after={events[-1][0]}", headers["acme"]
        )
        assert after_review[-1][1] == "done" and "WORKFLOW_STATUS_COMPLETED" in after_review[-1][2]
        assert int(after_review[0][0]) > int(events[-1][0])


async def _events(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[tuple[str, str, str]]:
    """The (id, event, data) of every Server-Sent Event until the stream ends."""
    events: list[tuple[str, str, str]] = []
    async with asyncio.timeout(60), http.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):  # a comment
                continue
            if not line:
                if not fields:
                    continue
                events.append((fields.get("id", ""), fields.get("event", ""), fields.get("data", "")))
                fields = {}
                continue
            key, _, value = line.partition(": ")
            fields[key] = value
    return events


async def test_another_tenant_sees_nothing_of_acme(gateway: Any, awaiting: Any) -> None:
    url, headers, _ = gateway
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        workflows = (await http.get("/v1/workflows", headers=headers["globex"])).json()
        assert awaiting.id not in [w["id"] for w in workflows.get("workflows", [])]
        reviews = (await http.get("/v1/reviews", headers=headers["globex"])).json()
        assert awaiting.review_id not in [r["id"] for r in reviews.get("reviews", [])]
        for path in (
            f"/v1/workflows/{awaiting.id}",
            f"/v1/reviews/{awaiting.review_id}",
            f"/v1/workflows/{awaiting.id}/events",
        ):
            assert (await http.get(path, headers=headers["globex"])).status_code == 404, path
        for path in (f"/v1/reviews/{awaiting.review_id}:approve", f"/v1/workflows/{awaiting.id}:cancel"):
            assert (await http.post(path, json={}, headers=headers["globex"])).status_code == 404, path


async def test_tools_usage_and_hardening(gateway: Any) -> None:
    url, headers, _ = gateway
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        tools = await http.get("/v1/tools", headers=headers["acme"])
        assert tools.status_code == 200 and tools.json()["tools"]
        usage = await http.get("/v1/usage?tenant_id=acme", headers=headers["acme"])
        assert usage.status_code == 200, usage.text
        assert usage.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in usage.headers["content-security-policy"]
        assert usage.headers["referrer-policy"] == "same-origin"
        huge = await http.post("/v1/tasks", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                               headers={**headers["acme"], "content-type": "application/json"})  # fmt: skip
        assert huge.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:  # no content-length: chunked transfer encoding
            for _ in range(40):
                yield b" " * 65536

        chunked = await http.post(
            "/v1/tasks", content=chunks(), headers={**headers["acme"], "content-type": "application/json"}
        )
        assert chunked.status_code == 413 and chunked.json()["status"] == 413
        allowed = await http.options("/v1/tools", headers={"origin": "https://app.example.com",
                                                            "access-control-request-method": "GET"})  # fmt: skip
        assert allowed.headers.get("access-control-allow-origin") == "https://app.example.com"
        other = await http.options("/v1/tools", headers={"origin": "https://evil.example",
                                                          "access-control-request-method": "GET"})  # fmt: skip
        assert "access-control-allow-origin" not in other.headers


class MetadataRecorder(grpc.aio.ServerInterceptor):
    """Records the invocation metadata of every call the supervisor receives."""

    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        self.calls.append({k: str(v) for k, v in details.invocation_metadata or ()})
        return await continuation(details)


async def test_the_credential_and_the_trace_context_reach_the_supervisor() -> None:
    recorder = MetadataRecorder()
    settings = test_settings()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with in_process_stack(settings, interceptors=[recorder]) as channel:
        target = channel._channel.target.decode()  # type: ignore[attr-defined]  # the supervisor's address
        own = test_settings(
            gateway_supervisor_addr=target
        )  # the gateway's own channel, with its interceptors
        async with running_gateway(own, None) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
            headers = {"authorization": "Bearer mka_x_y", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
            await http.get("/v1/workflows", headers=headers)
    call = next(c for c in recorder.calls if c.get("authorization") == "Bearer mka_x_y")
    assert call["traceparent"].split("-")[1] == trace_id


async def test_a_tenant_over_its_quota_gets_429_with_retry_after() -> None:
    from supervisor_service.limits import limits_blob
    from supervisor_service.tenants import Audit, TenantStore

    settings = test_settings(tenant_limits_cache_s=0)
    store = await open_store(settings, "supervisor", migrations=("supervisor_service",))
    try:
        tenants = TenantStore(store.db)
        await tenants.ensure_tenant("default", actor="test")
        limits = admin_pb2.Tenant(quotas=admin_pb2.TenantQuotas(tasks_per_day=1))
        await tenants.update_tenant("default", Audit("test"), limits=limits_blob(limits))
    finally:
        await store.close()
    async with in_process_stack(settings) as channel, running_gateway(settings, channel) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            first = await http.post("/v1/tasks", json={"task": "Research the vector database market"})
            assert first.status_code == 200, first.text
            second = await http.post("/v1/tasks", json={"task": "Research the vector database market again"})
    assert second.status_code == 429, second.text
    assert 0 < int(second.headers["retry-after"]) <= 24 * 3600
    body = second.json()
    assert body["grpc_code"] == "RESOURCE_EXHAUSTED" and body["retry_after_s"] == int(
        second.headers["retry-after"]
    )
    assert {v["description"] for v in body["quota_violations"]} == {"tasks_per_day"}


async def test_the_tenants_rate_limit_applies_to_gateway_requests_with_retry_after() -> None:
    """The tenant's configured rate limit (AdminService's ``rate_limits``) holds at the edge too: the gateway keeps no
    counters of its own, every request reaches the supervisor's limiter, and an over-limit one is a 429."""
    from supervisor_service.limits import limits_blob
    from supervisor_service.tenants import Audit, TenantStore

    settings = test_settings(tenant_limits_cache_s=0)
    store = await open_store(settings, "supervisor", migrations=("supervisor_service",))
    try:
        tenants = TenantStore(store.db)
        await tenants.ensure_tenant("default", actor="test")
        limits = admin_pb2.Tenant(rate_limits=admin_pb2.RateLimits(tenant_rps=0.2, tenant_burst=3))
        await tenants.update_tenant("default", Audit("test"), limits=limits_blob(limits))
    finally:
        await store.close()
    async with in_process_stack(settings) as channel, running_gateway(settings, channel) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            answers = [await http.get("/v1/workflows") for _ in range(5)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200], [a.text for a in answers]
    refused = answers[-1]
    assert refused.status_code == 429, refused.text
    assert refused.json()["grpc_code"] == "RESOURCE_EXHAUSTED"
    assert 1 <= int(refused.headers["retry-after"]) <= 5  # one token at 0.2 per second
