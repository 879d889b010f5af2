"""``make demo``: start the four services on loopback, run a sample campaign, print it, stop the services.

The campaign asks for approval before publishing: it stops at the social team's review, the demo prints the review,
approves it as a reviewer, and the workflow completes. The gateway starts too and the demo prints the review
console's URL; with ``--review-in-browser`` (``make demo REVIEW=browser``) the demo waits for a person to approve (or reject) in the console."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import grpc
from marketing.supervisor.v1 import review_pb2, review_pb2_grpc

from common.launcher import ServiceLauncher, console_url
from common.teams import TEAMS
from common.tls import sync_channel
from supervisor_service import cli, review_cli

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
                    return wait_for_decision(channel)
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


def wait_for_decision(channel: grpc.Channel, poll_s: float = 2.0) -> int:
    """Wait until no review is pending (a person decided in the console), then give the workflow time to finish."""
    stub = review_pb2_grpc.ReviewServiceStub(channel)
    pending = review_pb2.ListReviewsRequest(status=review_pb2.REVIEW_STATUS_PENDING)
    while stub.ListReviews(pending, timeout=10).reviews:
        time.sleep(poll_s)
    print("decided in the console; the workflow goes on", flush=True)
    time.sleep(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
