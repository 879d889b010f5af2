"""Entry point: ``python -m content_service``."""

from __future__ import annotations

from marketing.content.v1 import content_pb2, content_pb2_grpc

from common.agents.team_entry import build_team_service
from common.config import Settings
from common.server import ServiceParts, ServiceRegistration, run_service
from content_service.images import ImageGenerator
from content_service.servicer import ContentServicer
from content_service.team import content_team

SERVICE_NAME = content_pb2.DESCRIPTOR.services_by_name["ContentService"].full_name


async def build(settings: Settings) -> ServiceParts:
    """The content team's servicers; stopping closes the images API client."""
    servicer = ContentServicer()
    own = ServiceRegistration(
        SERVICE_NAME, lambda server: content_pb2_grpc.add_ContentServiceServicer_to_server(servicer, server)
    )
    images = ImageGenerator.from_settings(settings)
    parts = await build_team_service(content_team(images), settings, own)
    parts.on_stop.append(images.aclose)
    return parts


def main() -> None:
    """Run the content service until SIGTERM or SIGINT."""
    run_service("content", build)


if __name__ == "__main__":
    main()
