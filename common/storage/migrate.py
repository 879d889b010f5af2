"""``make migrate`` / ``python -m common.storage.migrate``: apply pending migrations for every service's records.

The services apply them at start-up too; this is for running them ahead of a deployment.
"""

from __future__ import annotations

import asyncio
import sys

from common.config import get_settings
from common.errors import ConfigError
from common.launcher import SERVICES
from common.storage.open import open_store


async def migrate_all() -> None:
    """Open (and so migrate) each service's store: one PostgreSQL database, or one SQLite file per service."""
    settings = get_settings()
    names = (
        ["supervisor"]
        if settings.database_url and not settings.database_url.startswith("sqlite")
        else SERVICES
    )
    for name in names:
        store = await open_store(settings, name)
        print(f"{name}: {store.dialect} schema up to date")
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
