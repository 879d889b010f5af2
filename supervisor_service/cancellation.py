"""A cancelled workflow leaves nothing behind: every team it used undoes its own side effects.

The supervisor calls the uniform ``TeamService/CancelWorkflow`` on each team the workflow was routed to (the
social team cancels the workflow's scheduled posts; a team without side effects answers with none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import grpc
from marketing.supervisor.v1 import supervisor_pb2

from common.logging import get_logger
from common.team_client import TeamClient

log = get_logger(__name__)

CANCEL_EFFECTS_TIMEOUT_S = 5.0


@dataclass
class CancelledEffects:
    """What the teams undid (``kind`` and id per effect) and the teams that could not be asked."""

    effects: list[tuple[str, str, str]] = field(default_factory=list)  # (team, kind, id)
    errors: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        """Ids of every undone effect."""
        return [effect_id for _, _, effect_id in self.effects]


def teams_used(workflow: supervisor_pb2.Workflow) -> list[str]:
    """Every team the workflow was routed to (a call cut short by the cancellation included), in order."""
    teams = [step.team for step in workflow.routing_steps if step.team]
    teams += [run.team for run in workflow.team_runs]
    return list(dict.fromkeys(teams))


async def cancel_team_effects(
    clients: Mapping[str, TeamClient],
    teams: Iterable[str],
    workflow_id: str,
    timeout_s: float = CANCEL_EFFECTS_TIMEOUT_S,
) -> CancelledEffects:
    """Ask each of the teams, concurrently, to undo its side effects for the workflow."""
    names = [team for team in teams if team in clients]
    answers = await asyncio.gather(
        *(clients[team].cancel_workflow(workflow_id, timeout_s) for team in names), return_exceptions=True
    )
    result = CancelledEffects()
    for team, answer in zip(names, answers, strict=True):
        if isinstance(answer, grpc.aio.AioRpcError):
            result.errors.append(f"{team}: {answer.code().name}: {answer.details() or ''}".strip())
        elif isinstance(answer, BaseException):
            raise answer
        else:
            result.effects += [(team, effect.kind, effect.id) for effect in answer]
    if result.errors:
        log.warning("team_effects_not_cancelled", workflow_id=workflow_id, errors=result.errors)
    if result.effects:
        log.info("team_effects_cancelled", workflow_id=workflow_id, effects=len(result.effects))
    return result
