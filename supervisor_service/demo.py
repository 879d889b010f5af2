"""``make demo``: start the four services on loopback, run a sample campaign, print it, stop the services.

The campaign asks for approval before publishing: it stops at the social team's review, the demo prints the review,
approves it as a reviewer, and the workflow completes. The gateway starts too and the demo prints the review
console's URL; with ``--review-in-browser`` (``make demo REVIEW=browser``) the demo waits (15 minutes at most) for a
person to approve (or send back) the review in the console, then for the workflow to finish, and prints it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import grpc
from marketing.supervisor.v1 import review_pb2, review_pb2_grpc, supervisor_pb2, supervisor_pb2_grpc

from common.launcher import ServiceLauncher, console_url
from common.teams import TEAMS
from common.tls import sync_channel
from supervisor_service import cli, review_cli
from supervisor_service.cli import exit_code, render_workflow

SAMPLE_TASK = (
    "Launch campaign for our open-source vector database: research the market and competitors, write a blog "
    "article, and prepare posts for LinkedIn and X."
)
LOG_DIR = Path(".run/demo")
ARTIFACT_DIR = LOG_DIR / "artifacts"


def main() -> int:
    """Run the demo; exit with the client's code (0 when the workflow completed, possibly with warnings)."""
    args = [arg for arg in sys.argv[1:] if arg != "--review-in-browser"]
    in_browser = len(args) < len(sys.argv) - 1
    task = " ".join(args) or SAMPLE_TASK
    launcher = ServiceLauncher(log_dir=LOG_DIR)
    listed = ", ".join(f"{s.name} :{s.port}" for s in TEAMS.services())
    print(f"starting {listed} on 127.0.0.1 (logs in {LOG_DIR}/)")
    try:
        launcher.start_all()
        launcher.start_gateway()
        print(f"review console: {console_url(launcher)} (sign in with any key: AUTH_DISABLED on loopback)")
        address = launcher.processes["supervisor"].address
        cli.main(["tools", "--addr", address])
        print(f"\nsending task: {task}\n", flush=True)
        code = cli.main(
            ["stream", task, "--addr", address, "--max-lines", "25", "--save-artifacts", str(ARTIFACT_DIR),
             "--approval", "before-publishing"]
        )  # fmt: skip
        if code == cli.AWAITING_REVIEW_EXIT:
            with sync_channel(address, None) as channel:
                if in_browser:
                    print(
                        f"\nthe workflow waits for a review: decide it at {console_url(launcher)}", flush=True
                    )
                    return wait_for_decision(channel, console_url(launcher))
                print("\nthe workflow waits for a review; approving it as a reviewer", flush=True)
                code = review_cli.approve_pending(channel)
    except RuntimeError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        print("is something else using ports 50051-50054? `make down` stops services started by `make up`.")
        return 1
    finally:
        launcher.stop_all()
        print("\nservices stopped")
    return code


DECISION_WAIT_S = 900.0
"""How long ``make demo REVIEW=browser`` waits for a person to decide a review in the console."""
FINISH_WAIT_S = 120.0
"""How long it then waits for the workflow to finish."""


def wait_for_decision(
    channel: grpc.Channel,
    console: str,
    decision_wait_s: float = DECISION_WAIT_S,
    finish_wait_s: float = FINISH_WAIT_S,
    poll_s: float = 1.0,
    max_lines: int = 25,
) -> int:
    """Wait (bounded) for a person to decide the pending review in the console, then for the workflow to finish
    (a review sent back opens another round: wait for that decision too); print the finished workflow.

    Returns:
        The CLI's exit code of the workflow (0 completed), or ``AWAITING_REVIEW_EXIT`` when nobody decided in time.
    """
    reviews = review_pb2_grpc.ReviewServiceStub(channel)
    tasks = supervisor_pb2_grpc.SupervisorServiceStub(channel)
    pending = reviews.ListReviews(
        review_pb2.ListReviewsRequest(status=review_pb2.REVIEW_STATUS_PENDING), timeout=10
    ).reviews
    if not pending:
        print("no review is pending", flush=True)
        return 0
    workflow_id = pending[0].workflow_id
    print(
        f"waiting up to {decision_wait_s / 60:g} min for your decision in the console "
        f"({console}/reviews/{pending[0].id}); Ctrl-C stops the demo",
        flush=True,
    )
    deadline, deciding = time.monotonic() + decision_wait_s, True
    while True:
        workflow = tasks.GetWorkflow(
            supervisor_pb2.GetWorkflowRequest(workflow_id=workflow_id), timeout=10
        ).workflow
        if workflow.status == supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW:
            if not deciding:  # sent back with comments: the team drafted again, another round is open
                print(f"another review round is open: decide it at {console}", flush=True)
                deadline, deciding = time.monotonic() + decision_wait_s, True
        elif workflow.status in (
            supervisor_pb2.WORKFLOW_STATUS_RUNNING,
            supervisor_pb2.WORKFLOW_STATUS_QUEUED,
        ):
            if deciding:
                print(
                    f"decided in the console; waiting up to {finish_wait_s:g}s for the workflow", flush=True
                )
                deadline, deciding = time.monotonic() + finish_wait_s, False
        else:
            print("\n" + render_workflow(workflow, max_lines), flush=True)
            return exit_code(workflow)
        if time.monotonic() > deadline:
            waited = "nobody decided the review" if deciding else "the workflow did not finish"
            status = supervisor_pb2.WorkflowStatus.Name(workflow.status).removeprefix("WORKFLOW_STATUS_")
            print(f"{waited} in time; workflow {workflow_id} is {status}, stopping the demo", flush=True)
            return exit_code(workflow) if not deciding else cli.AWAITING_REVIEW_EXIT
        time.sleep(poll_s)


if __name__ == "__main__":
    sys.exit(main())
