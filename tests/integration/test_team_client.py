"""The team client's retry waits for the channel to reconnect instead of sleeping out its whole backoff."""

from __future__ import annotations

import asyncio
import time

from marketing.team.v1 import team_pb2

from common.launcher import free_port
from common.team_client import CallStats, TeamClient
from tests.conftest import test_settings
from tests.integration.fakes import QuickTeam, start_team_on


async def test_a_team_that_comes_back_is_retried_as_soon_as_the_channel_reconnects() -> None:
    # The first retry's delay is at least 3 s (6 s x jitter 0.5-1.5); the team is up 0.3 s after the first attempt.
    settings = test_settings(team_retry_backoff_s=6.0, team_call_max_attempts=2)
    port = free_port()
    client = TeamClient("quick", f"127.0.0.1:{port}", settings)
    server = None
    try:
        stats = CallStats()
        started = time.monotonic()
        call = asyncio.ensure_future(_drain(client, stats))
        await asyncio.sleep(0.3)
        server = await start_team_on(settings, QuickTeam(), port)
        events = await asyncio.wait_for(call, 10)
        elapsed = time.monotonic() - started
        assert events[-1].result.summary == "done"
        assert stats.attempts == 2
        assert elapsed < 2.5, (
            f"the retry slept out its backoff ({elapsed:.2f} s) instead of waiting for the channel"
        )
    finally:
        await client.close()
        if server is not None:
            await server.stop(0)


async def _drain(client: TeamClient, stats: CallStats) -> list[team_pb2.StreamBriefResponse]:
    brief = team_pb2.Brief(task="anything")
    return [event async for event in client.stream_brief(brief, 20, stats=stats)]
