"""Entry point: ``python -m social_service``."""

from __future__ import annotations

from marketing.social.v1 import social_pb2, social_pb2_grpc

from common.agents.team_entry import build_team_service
from common.config import Settings
from common.secrets import Keyring
from common.server import RunningServer, ServiceParts, ServiceRegistration, run_service
from common.storage import open_store
from social_service.publisher_loop import PublisherLoop
from social_service.publishers import build_publishers
from social_service.scheduled_posts import MIGRATIONS, ScheduledPosts
from social_service.servicer import SocialServicer
from social_service.team import TEAM, social_team
from social_service.tenant_secrets import TenantSecrets
from social_service.tools import social_registry

SERVICE_NAME = social_pb2.DESCRIPTOR.services_by_name["SocialService"].full_name


async def build(settings: Settings) -> ServiceParts:
    """The social team's servicers, its scheduled posts (cancelled and erased with their workflow or tenant through
    ``TeamService`` too), the tenants' platform credentials (encrypted with ``SECRETS_KEY_FILE``) and the publisher
    loop (started once the server is up, stopped before it drains; the store and the HTTP clients are closed
    last)."""
    keyring = Keyring.from_path(settings.secrets_key_file)  # None: tenant secrets cannot be stored
    store = await open_store(settings, TEAM, migrations=(MIGRATIONS,))
    posts = ScheduledPosts(store.db)
    secrets = TenantSecrets(store.db, keyring)
    publishers = build_publishers(settings)
    dry_run = settings.social_publish == "dry-run"
    servicer = SocialServicer(posts)
    own = ServiceRegistration(
        SERVICE_NAME, lambda server: social_pb2_grpc.add_SocialServiceServicer_to_server(servicer, server)
    )
    try:
        parts = await build_team_service(
            social_team(social_registry(posts, publishers, dry_run), posts, secrets, live=not dry_run),
            settings,
            own,
            store=store,
        )
    except BaseException:
        await store.close()
        raise
    loop = PublisherLoop(posts, publishers, settings, secrets=secrets)

    async def start_loop(_: RunningServer) -> None:
        loop.start()

    async def close() -> None:
        await loop.stop()
        for publisher in publishers.values():
            await publisher.api.aclose()
        await store.close()

    parts.after_start.append(start_loop)
    parts.before_stop.append(loop.stop)
    parts.on_stop.append(close)
    return parts


def main() -> None:
    """Run the social service until SIGTERM or SIGINT."""
    run_service("social", build)


if __name__ == "__main__":
    main()
