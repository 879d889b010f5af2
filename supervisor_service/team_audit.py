"""The teams' own audit logs, read for ``AdminService/ListAuditEvents``.

A team that records audit events of its own (``TeamSpec.audit_log``: the social team's approvals applied to posts,
publish attempts and their outcomes) keeps them in its own records database, written in the transaction of the
change they describe (``common.audit``). The supervisor does not copy them: ``ListAuditEvents`` reads the tenant's
events from each such team (``TeamService/ListAuditEvents``, acting for the tenant, so the team's tenant filter and
row-level security apply) from the same (time, id) cursor as its own page, and merges them newest first. A team
that does not answer is named in ``unreachable_sources``: that page may miss its events, and is never padded with
older ones of its own (asking again later returns them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
from marketing.admin.v1 import admin_pb2
from marketing.team.v1 import team_pb2

from common.auth.principal import acting_as, system_principal
from common.logging import get_logger
from common.team_client import TeamClient
from common.teams import TeamRegistry

log = get_logger(__name__)

AUDIT_TIMEOUT_S = 5.0
SUPERVISOR_SOURCE = "supervisor"


@dataclass
class TeamAuditPage:
    """The teams' events older than a cursor: at most ``page_size`` + 1 per team (``more``: a team had more)."""

    events: list[admin_pb2.AuditEvent] = field(default_factory=list)
    more: bool = False
    unreachable: list[str] = field(default_factory=list)


TeamAuditReader = Callable[[str, int, tuple[datetime, str] | None], Awaitable[TeamAuditPage]]
"""``read(tenant_id, page_size, before)``: the tenant's events in the teams' own audit logs older than ``before``."""


async def no_team_audit(tenant_id: str, page_size: int, before: tuple[datetime, str] | None) -> TeamAuditPage:
    """No team audit logs (AdminService alone, as in its own tests)."""
    return TeamAuditPage()


def _event(tenant_id: str, team: str, event: team_pb2.AuditEvent) -> admin_pb2.AuditEvent:
    return admin_pb2.AuditEvent(
        id=event.id,
        tenant_id=tenant_id,
        actor=event.actor,
        action=event.action,
        resource=event.resource,
        time=event.time,
        details=dict(event.details),
        source=team,
    )


def team_audit_reader(
    clients: Mapping[str, TeamClient], registry: TeamRegistry, timeout_s: float = AUDIT_TIMEOUT_S
) -> TeamAuditReader:
    """Reads the audit logs of the registry's teams that keep one, concurrently."""
    names = [team.name for team in registry if team.audit_log and team.name in clients]

    async def read(tenant_id: str, page_size: int, before: tuple[datetime, str] | None) -> TeamAuditPage:
        with acting_as(system_principal(tenant_id)):  # the call carries the tenant whose events are read
            answers = await asyncio.gather(
                *(clients[name].list_audit_events(page_size + 1, before, timeout_s) for name in names),
                return_exceptions=True,
            )
        page = TeamAuditPage()
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, grpc.aio.AioRpcError):
                if answer.code() == grpc.StatusCode.UNIMPLEMENTED:  # a team version without an audit log
                    continue
                page.unreachable.append(name)
                log.warning("team_audit_unreachable", team=name, code=answer.code().name)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                page.more = page.more or len(answer) > page_size
                page.events += [_event(tenant_id, name, e) for e in answer[: page_size + 1]]
        return page

    return read


def newest_first_key(event: admin_pb2.AuditEvent) -> tuple[datetime, str]:
    """The order of the merged audit log: time, then id, both descending (as each store pages)."""
    return event.time.ToDatetime(UTC), event.id
