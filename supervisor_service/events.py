"""Persisted workflow events (``workflow_events``) and their live fan-out, for WatchWorkflow.

Every event a workflow's run streams (StreamTaskResponse, except text deltas: those are a StreamTask caller's
typing indicator, and the finished artifacts carry the text) is stored with a per-workflow sequence number, the
watcher's cursor. A watcher replays the stored events after its cursor and then waits for more: the writer
notifies through Redis pub/sub (``REDIS_URL``: every replica's watchers wake at once), and without Redis watchers
poll the database every ``WATCH_POLL_S``; a watcher on the writing replica is woken in-process either way. The
database is the only source of events, the notifications carry none: a watcher sees every event exactly once, in
order, whichever replica runs the workflow and however often it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from marketing.supervisor.v1 import supervisor_pb2

from common.logging import get_logger
from common.storage.database import Database

log = get_logger(__name__)

CHANNEL_PREFIX = "marketing:workflow-events:"
NOT_PERSISTED = frozenset({"text_delta", "text_withdrawn"})


def persisted(event: supervisor_pb2.StreamTaskResponse) -> bool:
    """Whether the event is stored for watchers."""
    return event.WhichOneof("event") not in NOT_PERSISTED


class EventLog:
    """Stores a workflow's events and wakes its watchers."""

    def __init__(self, db: Database, redis_url: str | None = None, poll_s: float = 0.25) -> None:
        self.db = db
        self.poll_s = poll_s
        self.redis_url = redis_url
        self._redis: Any = None
        self._local: dict[str, asyncio.Event] = {}

    async def _client(self) -> Any:
        if self._redis is None and self.redis_url:
            import redis.asyncio as redis

            self._redis = redis.Redis.from_url(self.redis_url)
        return self._redis

    async def append(self, tenant_id: str, event: supervisor_pb2.StreamTaskResponse) -> int | None:
        """Store the event after the workflow's last one and notify; returns its cursor (None: not stored)."""
        if not persisted(event):
            return None
        workflow_id = event.workflow_id
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "INSERT INTO workflow_events (workflow_id, seq, tenant_id, event, at) "
                "SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM workflow_events WHERE workflow_id = $1 "
                "RETURNING seq",
                workflow_id, tenant_id, event.SerializeToString(), datetime.now(UTC),
            )  # fmt: skip
        self._wake(workflow_id)
        client = await self._client()
        if client is not None:
            try:
                await client.publish(CHANNEL_PREFIX + workflow_id, "1")
            except Exception as exc:  # watchers elsewhere fall back to their poll
                log.warning("event_notify_failed", error=str(exc))
        return int(rows[0]["seq"])

    async def after(
        self, tenant_id: str, workflow_id: str, cursor: int, limit: int = 500
    ) -> list[tuple[int, supervisor_pb2.StreamTaskResponse]]:
        """The tenant's stored events of the workflow after ``cursor``, in order."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT seq, event FROM workflow_events WHERE tenant_id = $1 AND workflow_id = $2 AND seq > $3 "
                "ORDER BY seq LIMIT $4",
                tenant_id, workflow_id, cursor, limit,
            )  # fmt: skip
        return [
            (int(r["seq"]), supervisor_pb2.StreamTaskResponse.FromString(bytes(r["event"]))) for r in rows
        ]

    async def delete(self, tenant_id: str, workflow_id: str) -> int:
        """Erase a workflow's events."""
        async with self.db.for_tenant(tenant_id) as db:
            return await db.execute(
                "DELETE FROM workflow_events WHERE tenant_id = $1 AND workflow_id = $2",
                tenant_id,
                workflow_id,
            )

    def _wake(self, workflow_id: str) -> None:
        waiter = self._local.pop(workflow_id, None)
        if waiter is not None:
            waiter.set()

    @contextlib.asynccontextmanager
    async def changes(self, workflow_id: str) -> AsyncIterator[_Changes]:
        """Wake-ups for new events of a workflow (Redis subscription when configured, else polling)."""
        client = await self._client()
        pubsub = None
        if client is not None:
            pubsub = client.pubsub()
            await pubsub.subscribe(CHANNEL_PREFIX + workflow_id)
        try:
            yield _Changes(self, workflow_id, pubsub)
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.unsubscribe()
                    await pubsub.aclose()

    async def aclose(self) -> None:
        """Close the Redis connection."""
        if self._redis is not None:
            await self._redis.aclose()


class _Changes:
    def __init__(self, log_: EventLog, workflow_id: str, pubsub: Any) -> None:
        self.log = log_
        self.workflow_id = workflow_id
        self.pubsub = pubsub
        self.local = asyncio.Event()

    def arm(self) -> None:
        """Listen for this replica's next append before reading, so that none slips between read and wait."""
        self.local = self.log._local.setdefault(self.workflow_id, asyncio.Event())

    async def wait(self) -> None:
        """Until the workflow may have new events since ``arm()`` (or the poll interval passed)."""
        waits = [asyncio.ensure_future(self.local.wait())]
        if self.pubsub is not None:
            waits.append(
                asyncio.ensure_future(self.pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0))
            )
        timeout = self.log.poll_s if self.pubsub is None else 5.0
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
