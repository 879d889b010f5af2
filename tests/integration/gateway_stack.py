"""The gateway served by uvicorn in this process, in front of an in-process supervisor (the gateway tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import uvicorn
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc
from marketing.tenant.v1 import tenant_pb2

from common.config import Settings
from common.launcher import free_port
from gateway_service.app import create_app

CAMPAIGN = "Prepare LinkedIn and X posts announcing our open-source vector database release"


@asynccontextmanager
async def running_gateway(settings: Settings, channel: grpc.aio.Channel | None) -> AsyncIterator[str]:
    """Serve the gateway on a free loopback port (on ``channel``, else its own to GATEWAY_SUPERVISOR_ADDR); yields
    its base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(settings, channel), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "the gateway did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def bearer(metadata: Any) -> dict[str, str]:
    """HTTP headers carrying the API key of a tenant's call metadata."""
    return {"authorization": dict(metadata)["authorization"]}


async def campaign_awaiting_review(channel: grpc.aio.Channel, metadata: Any) -> supervisor_pb2.Workflow:
    """A campaign that stops at the social team's review (RunTask, approval before publishing)."""
    stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
    request = supervisor_pb2.RunTaskRequest(
        task=CAMPAIGN, approval_policy=tenant_pb2.APPROVAL_POLICY_BEFORE_PUBLISHING
    )
    workflow = (await stub.RunTask(request, timeout=60, metadata=metadata)).workflow
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW, workflow
    return workflow
