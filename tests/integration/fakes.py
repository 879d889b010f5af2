"""Fake team services for fault tests: always unavailable, always rejecting, or hanging."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from marketing.team.v1 import team_pb2, team_pb2_grpc

from common.agents.team_entry import TEAM_SERVICE_NAME
from common.config import Settings
from common.server import RunningServer, ServiceRegistration, start_server


class FaultyTeam(team_pb2_grpc.TeamServiceServicer):
    """A TeamService that fails in one way and counts the calls it receives."""

    def __init__(self, code: grpc.StatusCode | None = None, hang: bool = False) -> None:
        self.code = code
        self.hang = hang
        self.calls = 0

    async def StreamBrief(
        self, request: team_pb2.StreamBriefRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(3600)
        await context.abort(self.code or grpc.StatusCode.INTERNAL, f"fake team fails with {self.code}")
        yield team_pb2.StreamBriefResponse()  # pragma: no cover - never reached


async def start_faulty_team(settings: Settings, team: FaultyTeam) -> RunningServer:
    """Serve a fake team on a free loopback port."""
    registration = ServiceRegistration(
        TEAM_SERVICE_NAME, lambda server: team_pb2_grpc.add_TeamServiceServicer_to_server(team, server)
    )
    return await start_server("fake", [registration], settings, port=0, host="127.0.0.1")


class QuickTeam(team_pb2_grpc.TeamServiceServicer):
    """A TeamService that answers every brief at once with an empty result."""

    async def StreamBrief(
        self, request: team_pb2.StreamBriefRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[team_pb2.StreamBriefResponse]:
        yield team_pb2.StreamBriefResponse(result=team_pb2.BriefResult(team="quick", summary="done"))


async def start_team_on(
    settings: Settings, servicer: team_pb2_grpc.TeamServiceServicer, port: int
) -> RunningServer:
    """Serve a fake team on a given loopback port."""
    registration = ServiceRegistration(
        TEAM_SERVICE_NAME, lambda server: team_pb2_grpc.add_TeamServiceServicer_to_server(servicer, server)
    )
    return await start_server("fake", [registration], settings, port=port, host="127.0.0.1")
