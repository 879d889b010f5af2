"""GraphQL end to end: nested selection in one request, paging, tenant scope, depth/size/cost limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import authenticated_stack, test_settings
from tests.integration.gateway_stack import bearer, campaign_awaiting_review, running_gateway

NESTED = """
query($id: String!) {
  workflow(id: $id) {
    id status task
    teamRuns { team status }
    artifacts { id team kind title }
    review { id status items { artifactId platform text maxLength findings { rule severity } } }
  }
}"""


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[tuple[str, dict[str, dict[str, str]], Any]]:
    settings = test_settings(auth_disabled=False, gateway_graphql_max_depth=6)
    async with authenticated_stack(settings, ["acme", "globex"]) as (channel, keys):
        workflow = await campaign_awaiting_review(channel, keys["acme"])
        async with running_gateway(settings, channel) as url:
            yield url, {t: bearer(m) for t, m in keys.items()}, workflow


async def query(url: str, headers: dict[str, str], text: str, **variables: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        answer = await http.post("/graphql", json={"query": text, "variables": variables}, headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_a_workflow_with_its_team_runs_artifacts_and_review_items_in_one_request(gateway: Any) -> None:
    url, headers, workflow = gateway
    body = await query(url, headers["acme"], NESTED, id=workflow.id)
    assert "errors" not in body, body
    found = body["data"]["workflow"]
    assert found["status"] == "WORKFLOW_STATUS_AWAITING_REVIEW"
    assert found["id"] == workflow.id and found["review"]["id"] == workflow.review_id
    assert isinstance(found["teamRuns"], list) and isinstance(
        found["artifacts"], list
    )  # filled when it completes
    items = found["review"]["items"]
    assert any(item["platform"] == "x" and item["maxLength"] == 280 for item in items), items


async def test_pages_of_workflows_and_pending_reviews(gateway: Any) -> None:
    url, headers, workflow = gateway
    text = """{ workflows(first: 1) { items { id } nextPageToken }
               reviews(status: "REVIEW_STATUS_PENDING", first: 10) { items { id workflowId } } }"""
    body = await query(url, headers["acme"], text)
    assert "errors" not in body, body
    assert [w["id"] for w in body["data"]["workflows"]["items"]] == [workflow.id]
    assert workflow.review_id in [r["id"] for r in body["data"]["reviews"]["items"]]
    too_big = await query(url, headers["acme"], "{ workflows(first: 5000) { items { id } } }")
    assert too_big["errors"][0]["extensions"]["code"] == "INVALID_ARGUMENT"


async def test_another_tenant_sees_nothing(gateway: Any) -> None:
    url, headers, workflow = gateway
    body = await query(url, headers["globex"], NESTED, id=workflow.id)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    listed = await query(url, headers["globex"], "{ workflows { items { id } } reviews { items { id } } }")
    assert listed["data"] == {"workflows": {"items": []}, "reviews": {"items": []}}
    anonymous = await query(url, {}, "{ workflows { items { id } } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_depth_size_and_cost_limits(gateway: Any) -> None:
    url, headers, workflow = gateway
    deep = (
        "query($id: String!) { workflow(id: $id) { " + "review { workflow { " * 4 + "id" + " } }" * 4 + " } }"
    )
    body = await query(url, headers["acme"], deep, id=workflow.id)
    assert "exceeds maximum operation depth" in body["errors"][0]["message"], body
    aliases = " ".join(f"a{n}: workflows {{ items {{ id }} }}" for n in range(20))
    body = await query(url, headers["acme"], "{ " + aliases + " }")
    assert "aliases" in body["errors"][0]["message"].lower(), body
    nested = (
        f'workflow(id: "{workflow.id}") {{ review {{ workflow {{ review {{ id }} }} }} }}'  # 4 calls each
    )
    cheap = await query(url, headers["acme"], "{ " + " ".join(f"w{n}: {nested}" for n in range(12)) + " }")
    assert "errors" not in cheap and len(cheap["data"]) == 12, cheap
    costly = await query(url, headers["acme"], "{ " + " ".join(f"w{n}: {nested}" for n in range(13)) + " }")
    assert costly["errors"][0]["extensions"]["code"] == "TOO_COSTLY", costly
    huge = await query(url, headers["acme"], "{ workflows { items { " + "id " * 3000 + "} } }")
    assert "token" in huge["errors"][0]["message"].lower(), huge
