"""The gateway as a process in front of the four services as processes (the launcher, as `make up` runs them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from common.launcher import GATEWAY, ServiceLauncher, free_port
from tests.e2e.conftest import launch

pytestmark = pytest.mark.e2e
CAMPAIGN = "Prepare LinkedIn and X posts announcing our open-source vector database release"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceLauncher, str]]:
    launcher = launch(tmp_path_factory.mktemp("gateway-e2e"))
    try:
        process = launcher.start_gateway(port=free_port())
        yield launcher, f"http://{process.address}"
    finally:
        launcher.stop_all()


def test_rest_and_graphql_through_the_processes(gateway: tuple[ServiceLauncher, str]) -> None:
    launcher, url = gateway
    with httpx.Client(base_url=url, timeout=90) as http:
        body = {"task": CAMPAIGN, "approval_policy": "APPROVAL_POLICY_BEFORE_PUBLISHING"}
        workflow = http.post("/v1/tasks?wait=true", json=body).json()["workflow"]
        assert workflow["status"] == "WORKFLOW_STATUS_AWAITING_REVIEW", workflow
        # `make demo`/`make up` (AUTH_DISABLED on loopback): the console accepts any key, acting for `default`
        signed_in = http.post("/console/sign-in", data={"credential": "demo"}, headers={"origin": url})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console"
        assert workflow["review_id"] in http.get("/console").text
        http.cookies.clear()
        approved = http.post(f"/v1/reviews/{workflow['review_id']}:approve", json={})
        assert approved.status_code == 200, approved.text
        for _ in range(300):
            status = http.get(f"/v1/workflows/{workflow['id']}").json()["workflow"]["status"]
            if status == "WORKFLOW_STATUS_COMPLETED":
                break
            time.sleep(0.1)
        assert status == "WORKFLOW_STATUS_COMPLETED"
        query = """query($id: String!) { workflow(id: $id) { status artifacts { team } }
                   reviews(status: "REVIEW_STATUS_APPROVED") { items { id workflowId } } }"""
        found = http.post("/graphql", json={"query": query, "variables": {"id": workflow["id"]}}).json()
        assert found.get("data"), found
        assert workflow["review_id"] in [r["id"] for r in found["data"]["reviews"]["items"]], found
        assert found["data"]["workflow"]["status"] == "WORKFLOW_STATUS_COMPLETED"
        assert "social" in {a["team"] for a in found["data"]["workflow"]["artifacts"]}
        assert http.get("/console", follow_redirects=True).url.path == "/console/sign-in"
    assert Path(launcher.processes[GATEWAY].log_path).read_text().count('"service": "gateway"') >= 1
    metrics = httpx.get(
        launcher.processes[GATEWAY].metrics_url, timeout=10
    ).text  # its own port, like the services
    assert 'http_server_requests_total{method="POST",route="/v1/tasks",status="200"}' in metrics
    assert 'route="/v1/workflows/{workflow_id}",status="200"' in metrics and workflow["id"] not in metrics
    assert 'http_server_request_duration_seconds_bucket{le="0.005",method="POST",route="/graphql"' in metrics
    assert 'grpc_client_handled_total{grpc_code="OK",grpc_method="SubmitTask"' in metrics


def test_the_gateway_stops_on_sigterm(gateway: tuple[ServiceLauncher, str]) -> None:
    launcher, _ = gateway
    log = launcher.processes[GATEWAY].log_path
    assert launcher.stop(GATEWAY) in (0, -15)  # uvicorn drains, then re-raises the signal it caught
    assert "Application shutdown complete" in log.read_text()
