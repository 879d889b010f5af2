"""Entry point: ``python -m research_service``."""

from __future__ import annotations

from marketing.research.v1 import research_pb2, research_pb2_grpc

from common.agents.team_entry import build_team_service
from common.cache import open_tool_cache
from common.config import Settings
from common.logging import get_logger
from common.server import ServiceParts, ServiceRegistration, run_service
from research_service.knowledge_base import DEFAULT_KNOWLEDGE_DIR, KnowledgeBase
from research_service.servicer import ResearchServicer
from research_service.team import ResearchApis, research_team

SERVICE_NAME = research_pb2.DESCRIPTOR.services_by_name["ResearchService"].full_name
log = get_logger(__name__)


def load_knowledge_base(settings: Settings) -> KnowledgeBase:
    """The shipped sample documents plus ``KNOWLEDGE_DIR`` when set."""
    directories = [DEFAULT_KNOWLEDGE_DIR, *([settings.knowledge_dir] if settings.knowledge_dir else [])]
    return KnowledgeBase.load(directories)


async def build(settings: Settings) -> ServiceParts:
    """The research team's servicers, with the external tools the settings configure."""
    knowledge_base = load_knowledge_base(settings)
    tool_cache = await open_tool_cache(settings)
    apis = ResearchApis.from_settings(settings)
    servicer = ResearchServicer(knowledge_base)
    own = ServiceRegistration(
        SERVICE_NAME, lambda server: research_pb2_grpc.add_ResearchServiceServicer_to_server(servicer, server)
    )
    team = research_team(knowledge_base, tool_cache, apis)
    if team.tools is not None:
        for tool in team.tools.describe():
            log.info("tool", name=tool.name, configured=tool.configured, status=tool.status)
    parts = await build_team_service(team, settings, own)
    parts.on_stop += [apis.aclose, tool_cache.cache.close]
    return parts


def main() -> None:
    """Run the research service until SIGTERM or SIGINT."""
    run_service("research", build)


if __name__ == "__main__":
    main()
