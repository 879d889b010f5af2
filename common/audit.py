"""A team's own audit log (``team_audit_events``, common migration 050), read through ``TeamService/ListAuditEvents``.

The supervisor keeps the tenants' audit log (``audit_events``: administrative changes, erasures, review decisions).
What a team does later on its own, after the supervisor's part is over, is recorded where the team does it: the
social team's publisher loop publishes approved posts hours after the approval, possibly on a database the
supervisor does not share. So a team records its events in its own records database, in the same transaction as
the change they describe (a post marked published and its ``post.published`` event commit together on
PostgreSQL), and the supervisor's ``AdminService/ListAuditEvents`` merges them, newest first, with its own.

Events have the supervisor's shape (id, tenant, actor, action, resource, details, time) plus ``source``, the team
that recorded them: services that share one PostgreSQL database each read only their own. An event id may be
derived from what it records (``event_id(...)``), so recording the same fact again (a retried statement, a resumed
approval) keeps one row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.storage.database import Database

SYSTEM_ACTOR = "system"
_NAMESPACE = uuid.UUID("6b1f6c52-8f0e-4a55-9a47-2f3c4f7f5a10")
MAX_PAGE = 101


def event_id(*parts: str) -> str:
    """A stable event id for a fact (the same parts give the same id)."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


@dataclass(frozen=True)
class TeamAuditEvent:
    """One row of ``team_audit_events``."""

    id: str
    tenant_id: str
    source: str
    actor: str
    action: str
    resource: str
    details: dict[str, str]
    at: datetime


def _when(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _event(row: Mapping[str, Any]) -> TeamAuditEvent:
    return TeamAuditEvent(
        id=str(row["id"]),
        tenant_id=row["tenant_id"],
        source=row["source"],
        actor=row["actor"],
        action=row["action"],
        resource=row["resource"],
        details={str(k): str(v) for k, v in json.loads(row["details"] or "{}").items()},
        at=_when(row["at"]),
    )


def _strings(details: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in details.items()}


class TeamAuditLog:
    """The audit events one team (``source``) records, per tenant."""

    def __init__(self, database: Database, source: str) -> None:
        self.db = database
        self.source = source

    async def record_in(
        self,
        db: Database,
        tenant_id: str,
        action: str,
        resource: str,
        details: Mapping[str, Any],
        *,
        actor: str = SYSTEM_ACTOR,
        event: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Record an event inside the caller's unit of work ``db`` (``database.for_tenant(...)``), so that it
        commits with the change it describes; ``event`` is a stable id (a repeated fact is kept once)."""
        await db.execute(
            "INSERT INTO team_audit_events (id, tenant_id, source, actor, action, resource, details, at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            event or str(uuid.uuid4()), tenant_id, self.source, actor, action, resource,
            json.dumps(_strings(details), sort_keys=True), at or datetime.now(UTC),
        )  # fmt: skip

    async def record(
        self,
        tenant_id: str,
        action: str,
        resource: str,
        details: Mapping[str, Any],
        *,
        actor: str = SYSTEM_ACTOR,
        event: str | None = None,
    ) -> None:
        """Record an event in a unit of work of its own."""
        async with self.db.for_tenant(tenant_id) as db:
            await self.record_in(db, tenant_id, action, resource, details, actor=actor, event=event)

    async def older_than(
        self, tenant_id: str, limit: int, before: tuple[datetime, str] | None = None
    ) -> list[TeamAuditEvent]:
        """Up to ``limit`` of the tenant's events, newest first (by time, then id), older than ``before``."""
        args: list[Any] = [tenant_id, self.source]
        where = "tenant_id = $1 AND source = $2"
        if before is not None:
            args += [before[0].astimezone(UTC), before[1]]
            where += " AND (at < $3 OR (at = $3 AND id < $4))"
        args.append(max(1, min(limit, MAX_PAGE)))
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                f"SELECT * FROM team_audit_events WHERE {where} ORDER BY at DESC, id DESC LIMIT ${len(args)}",
                *args,
            )
        return [_event(row) for row in rows]

    async def erase_tenant(self, tenant_id: str) -> int:
        """Delete the tenant's events (DeleteTenant); returns how many."""
        async with self.db.for_tenant(tenant_id) as db:
            return await db.execute(
                "DELETE FROM team_audit_events WHERE tenant_id = $1 AND source = $2", tenant_id, self.source
            )
