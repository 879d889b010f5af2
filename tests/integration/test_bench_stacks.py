"""The benchmark's in-process stack still runs a campaign (``make bench`` is not part of ``make test``; this keeps
it from breaking unnoticed, as when the services began to require a caller's identity)."""

from __future__ import annotations

from marketing.supervisor.v1 import supervisor_pb2

from benchmarks.stacks import InProcessStack
from benchmarks.tasks import CAMPAIGN


async def test_the_in_process_benchmark_stack_completes_a_campaign() -> None:
    stack = InProcessStack(0)
    await stack.start()
    try:
        workflow = await stack.run(CAMPAIGN.text)
    finally:
        await stack.stop()
    assert workflow.status == supervisor_pb2.WORKFLOW_STATUS_COMPLETED, list(workflow.warnings)
    assert [r.team for r in workflow.team_runs] == list(CAMPAIGN.teams)
