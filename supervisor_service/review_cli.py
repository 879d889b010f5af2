"""The review queue from a terminal: ``python -m supervisor_service.review_cli list|show|approve|reject``.

``make demo`` uses :func:`approve_pending`: the campaign stops at a review; the demo prints it, approves it as a
reviewer and waits for the workflow to complete.
"""

from __future__ import annotations

import argparse
import sys
import time

import grpc
from marketing.supervisor.v1 import review_pb2, review_pb2_grpc, supervisor_pb2, supervisor_pb2_grpc

from common.tls import sync_channel
from supervisor_service.cli import exit_code, render_workflow

WAIT_S = 60.0


def render_review(review: review_pb2.Review) -> str:
    """A review, item by item, with its findings."""
    status = review_pb2.ReviewStatus.Name(review.status).removeprefix("REVIEW_STATUS_")
    expires = review.expire_time.ToJsonString() if review.HasField("expire_time") else "never"
    lines = [
        f"review {review.id} ({status}): {review.team} team, round {review.round}, workflow {review.workflow_id}",
        f"  approvals {len(review.approvals)}/{review.required_approvals}, expires {expires}",
    ]
    for view in review.items:
        item = view.item
        when = item.scheduled_time.ToJsonString() if item.HasField("scheduled_time") else "unscheduled"
        flag = " FLAGGED" if view.flagged else ""
        lines.append(f"  - {item.artifact_id} [{item.platform or 'text'}, {when}]{flag}")
        lines += [f"      {line}" for line in (view.approved_text or item.text).splitlines()]
        lines += [f"      ! {f.rule}: {f.message}" for f in view.findings]
    return "\n".join(lines)


def _wait(stub: supervisor_pb2_grpc.SupervisorServiceStub, workflow_id: str) -> supervisor_pb2.Workflow:
    deadline = time.monotonic() + WAIT_S
    waiting = (supervisor_pb2.WORKFLOW_STATUS_RUNNING, supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW)
    while True:
        workflow = stub.GetWorkflow(
            supervisor_pb2.GetWorkflowRequest(workflow_id=workflow_id), timeout=10
        ).workflow
        if workflow.status not in waiting or time.monotonic() > deadline:
            return workflow
        time.sleep(0.2)


def approve_pending(channel: grpc.Channel, max_lines: int = 25) -> int:
    """Print the pending reviews and approve them, one round after another, until their workflows finish;
    print each finished workflow. Returns the CLI's exit code of the last workflow."""
    reviews = review_pb2_grpc.ReviewServiceStub(channel)
    tasks = supervisor_pb2_grpc.SupervisorServiceStub(channel)
    code = 0
    pending = reviews.ListReviews(
        review_pb2.ListReviewsRequest(status=review_pb2.REVIEW_STATUS_PENDING)
    ).reviews
    for review in pending:
        print("\n" + render_review(review), flush=True)
        approved = reviews.ApproveReview(
            review_pb2.ApproveReviewRequest(review_id=review.id), timeout=10
        ).review
        print(f"\napproved review {approved.id} as {approved.decided_by}; the workflow resumes", flush=True)
        workflow = _wait(tasks, review.workflow_id)
        if workflow.status == supervisor_pb2.WORKFLOW_STATUS_AWAITING_REVIEW:
            return approve_pending(channel, max_lines)  # the next stage's review
        print("\n" + render_workflow(workflow, max_lines))
        code = exit_code(workflow)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Decide reviews of the supervisor's review queue.")
    parser.add_argument("mode", choices=["list", "show", "approve", "reject"])
    parser.add_argument("review_id", nargs="?", default="")
    parser.add_argument("--addr", default="localhost:50051", help="supervisor address")
    parser.add_argument("--comments", default="", help="reject: what to change")
    return parser


def main(argv: list[str] | None = None) -> int:
    """List pending reviews, show one, approve it or reject it with comments; 1 on an RPC error."""
    args = _parser().parse_args(argv)
    with sync_channel(args.addr, None) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        try:
            if args.mode == "list":
                listed = stub.ListReviews(
                    review_pb2.ListReviewsRequest(status=review_pb2.REVIEW_STATUS_PENDING)
                )
                print("\n\n".join(render_review(r) for r in listed.reviews) or "no pending review")
            elif args.mode == "show":
                print(
                    render_review(
                        stub.GetReview(review_pb2.GetReviewRequest(review_id=args.review_id)).review
                    )
                )
            elif args.mode == "approve":
                approve = review_pb2.ApproveReviewRequest(review_id=args.review_id)
                print(render_review(stub.ApproveReview(approve).review))
            else:
                reject = review_pb2.RejectReviewRequest(review_id=args.review_id, comments=args.comments)
                print(render_review(stub.RejectReview(reject).review))
        except grpc.RpcError as exc:
            print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
