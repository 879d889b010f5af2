"""Entry point: ``python -m social_service``."""

from __future__ import annotations

from marketing.social.v1 import social_pb2, social_pb2_grpc

from common.agents.team_entry import build_team_service
from common.config import Settings
from common.server import ServiceParts, ServiceRegistration, run_service
from social_service.graph import social_team
from social_service.servicer import SocialServicer

SERVICE_NAME = social_pb2.DESCRIPTOR.services_by_name["SocialService"].full_name


async def build(settings: Settings) -> ServiceParts:
    """The social team's servicers."""
    servicer = SocialServicer()
    own = ServiceRegistration(
        SERVICE_NAME, lambda server: social_pb2_grpc.add_SocialServiceServicer_to_server(servicer, server)
    )
    return await build_team_service(social_team(), settings, own)


def main() -> None:
    """Run the social service until SIGTERM or SIGINT."""
    run_service("social", build)


if __name__ == "__main__":
    main()
