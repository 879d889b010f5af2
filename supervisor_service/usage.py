"""``AdminService/GetUsage``: a tenant's usage for billing over a time range, grouped by day, team or model.

Computed from the tenant's workflow records (each saved snapshot carries its usage per team run and per model, and
the calls its tools made to external services), so the report agrees with what ``GetWorkflow`` shows and with the
recorded agent executions plus the supervisor's own routing calls. A workflow counts in the range it was created
in. External calls are priced with ``TOOL_PRICES`` (US dollars per call of a service).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from marketing.admin.v1 import admin_pb2
from marketing.supervisor.v1 import supervisor_pb2
from marketing.team.v1 import team_pb2

from common.errors import FieldViolation
from common.storage import Store

ROUTING = "supervisor"
"""The team name of the supervisor's own routing calls in rows grouped by team."""
MAX_RANGE_DAYS = 400


@dataclass
class _Row:
    tasks: int = 0
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    tool_calls: dict[str, int] = field(default_factory=dict)

    def add_usage(self, usage: team_pb2.Usage | team_pb2.ModelUsage) -> None:
        self.model_calls += usage.model_calls if isinstance(usage, team_pb2.Usage) else usage.calls
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cost_usd += usage.cost_usd

    def add_calls(self, service: str, calls: int) -> None:
        self.tool_calls[service] = self.tool_calls.get(service, 0) + calls

    def to_proto(self, key: str, prices: Mapping[str, float]) -> admin_pb2.UsageRow:
        return admin_pb2.UsageRow(
            key=key,
            tasks=self.tasks,
            model_calls=self.model_calls,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=self.cost_usd,
            tool_calls=[
                admin_pb2.ToolCallUsage(service=s, calls=n, cost_usd=n * prices.get(s, 0.0))
                for s, n in sorted(self.tool_calls.items())
            ],
        )


def usage_range(
    start: timestamp_pb2.Timestamp | None, end: timestamp_pb2.Timestamp | None, now: datetime
) -> tuple[datetime, datetime, list[FieldViolation]]:
    """The report's range: unset start = the start of the current UTC month, unset end = now; violations when
    it is empty, reversed or longer than MAX_RANGE_DAYS."""
    begin = (
        start.ToDatetime(UTC)
        if start is not None
        else now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    )
    finish = end.ToDatetime(UTC) if end is not None else now
    problems = []
    if finish <= begin:
        problems.append(FieldViolation("end_time", "must be after start_time"))
    elif (finish - begin).days > MAX_RANGE_DAYS:
        problems.append(FieldViolation("end_time", f"the range may span at most {MAX_RANGE_DAYS} days"))
    return begin, finish, problems


def _group(
    rows: dict[str, _Row], workflow: supervisor_pb2.Workflow, created: datetime, group_by: int
) -> None:
    if group_by == admin_pb2.USAGE_GROUPING_TEAM:
        rows.setdefault(ROUTING, _Row()).add_usage(workflow.routing_usage)
        for run in workflow.team_runs:
            rows.setdefault(run.team, _Row()).add_usage(run.usage)
        for calls in workflow.external_calls:
            rows.setdefault(calls.team, _Row()).add_calls(calls.service, calls.calls)
        return
    if group_by == admin_pb2.USAGE_GROUPING_MODEL:
        for model in workflow.usage.models:
            rows.setdefault(model.model, _Row()).add_usage(model)
        return
    row = rows.setdefault(created.astimezone(UTC).strftime("%Y-%m-%d"), _Row())
    row.tasks += 1
    row.add_usage(workflow.usage)
    for calls in workflow.external_calls:
        row.add_calls(calls.service, calls.calls)


async def usage_report(
    store: Store,
    tenant_id: str,
    start: datetime,
    end: datetime,
    group_by: int,
    prices: Mapping[str, float],
) -> admin_pb2.GetUsageResponse:
    """The tenant's usage of workflows created in ``[start, end)``, one row per group (ordered by key) and the
    total (tasks, model calls, tokens, dollars, external calls)."""
    rows: dict[str, _Row] = {}
    total = _Row()
    for record in await store.workflows_between(tenant_id, start, end):
        workflow = supervisor_pb2.Workflow.FromString(record.snapshot)
        _group(rows, workflow, record.created_at, group_by)
        total.tasks += 1
        total.add_usage(workflow.usage)
        for calls in workflow.external_calls:
            total.add_calls(calls.service, calls.calls)
    return admin_pb2.GetUsageResponse(
        rows=[rows[key].to_proto(key, prices) for key in sorted(rows)],
        total=total.to_proto("total", prices),
    )
