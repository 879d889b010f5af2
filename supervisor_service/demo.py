"""``make demo``: start the four services on loopback, run a sample campaign, print it, stop the services.

The campaign asks for approval before publishing: it stops at the social team's review, the demo prints the review,
approves it as a reviewer, and the workflow completes."""

from __future__ import annotations

import sys
from pathlib import Path

from common.launcher import ServiceLauncher
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
    task = " ".join(sys.argv[1:]) or SAMPLE_TASK
    launcher = ServiceLauncher(log_dir=LOG_DIR)
    listed = ", ".join(f"{s.name} :{s.port}" for s in TEAMS.services())
    print(f"starting {listed} on 127.0.0.1 (logs in {LOG_DIR}/)")
    try:
        launcher.start_all()
        address = launcher.processes["supervisor"].address
        cli.main(["tools", "--addr", address])
        print(f"\nsending task: {task}\n", flush=True)
        code = cli.main(
            ["stream", task, "--addr", address, "--max-lines", "25", "--save-artifacts", str(ARTIFACT_DIR),
             "--approval", "before-publishing"]
        )  # fmt: skip
        if code == cli.AWAITING_REVIEW_EXIT:
            print("\nthe workflow waits for a review; approving it as a reviewer", flush=True)
            with sync_channel(address, None) as channel:
                code = review_cli.approve_pending(channel)
    except RuntimeError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        print("is something else using ports 50051-50054? `make down` stops services started by `make up`.")
        return 1
    finally:
        launcher.stop_all()
        print("\nservices stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
