"""``make migrate`` / ``python -m common.storage.migrate``: apply pending migrations for every service's records.

The services apply them at start-up too; this is for running them ahead of a deployment. The services come from
the team registry (``common.teams``); a service package with a ``migrations/`` folder has tables of its own, whose
migrations are applied after common's.
"""

from __future__ import annotations

import asyncio
import sys

from common.config import Settings, get_settings
from common.errors import ConfigError
from common.storage.database import has_migrations
from common.storage.open import open_store
from common.teams import TEAMS, ServiceSpec


def own_migrations(service: ServiceSpec) -> tuple[str, ...]:
    """The packages holding a service's own migrations: its package when it has a ``migrations/`` folder."""
    return (service.package,) if has_migrations(service.package) else ()


async def migrate_all(settings: Settings | None = None) -> None:
    """Open (and so migrate) the stores: on PostgreSQL the one shared database, with every service's own
    migrations; on SQLite each service's file, with its own."""
    settings = settings or get_settings()
    services = TEAMS.services()
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        packages = tuple(package for service in services for package in own_migrations(service))
        store = await open_store(settings, TEAMS.supervisor.name, migrations=packages)
        print(f"{', '.join(s.name for s in services)}: {store.dialect} schema up to date")
        await store.close()
        return
    for service in services:
        store = await open_store(settings, service.name, migrations=own_migrations(service))
        print(f"{service.name}: {store.dialect} schema up to date")
        await store.close()


def main() -> int:
    """Command-line entry point."""
    try:
        asyncio.run(migrate_all())
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
