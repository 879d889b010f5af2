"""Entry point: ``python -m tests.fakes.email_service``."""

from __future__ import annotations

from common.agents.team_entry import build_team_service
from common.config import Settings
from common.server import ServiceParts, run_service
from tests.fakes.email_service.team import TEAM, email_team


async def build(settings: Settings) -> ServiceParts:
    """The email team's servicers (TeamService only: it has no service of its own)."""
    return await build_team_service(email_team(), settings)


def main() -> None:
    """Run the email service until SIGTERM or SIGINT."""
    run_service(TEAM, build)


if __name__ == "__main__":
    main()
