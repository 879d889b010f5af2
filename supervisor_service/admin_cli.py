"""``python -m supervisor_service.admin_cli``: tenants and API keys written straight to the supervisor's database.

The bootstrap of a deployment: the first platform administrator's key cannot come from AdminService, which needs
one. Uses the supervisor's database (``DATABASE_URL``, or ``supervisor.sqlite`` under ``DATA_DIR``)::

    python -m supervisor_service.admin_cli create-api-key platform --scope marketing.admin --name bootstrap
    python -m supervisor_service.admin_cli create-tenant acme --name "Acme Inc."
    python -m supervisor_service.admin_cli create-api-key acme --scope marketing.tasks.write --expires-in-days 90
    python -m supervisor_service.admin_cli list-tenants
    python -m supervisor_service.admin_cli revoke-api-key acme 0123456789ab

``create-api-key`` prints the key alone on stdout (shown once: only its hash is stored), its description on stderr.
Every change is recorded in the audit log with the actor ``cli:<user>``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from common.auth.principal import valid_tenant_id
from common.config import Settings, get_settings
from common.errors import ConfigError
from common.logging import configure_logging
from common.storage import open_store
from supervisor_service.admin import check_scopes
from supervisor_service.tenants import MIGRATIONS, AlreadyExists, Audit, TenantStore, api_key_id

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A command that cannot be done; the message says why."""


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name (a container without a passwd entry)
        return "cli"


def _tenant_id(value: str) -> str:
    if not valid_tenant_id(value):
        raise argparse.ArgumentTypeError(
            f"{value!r}: a tenant id is 2-63 lower-case letters, digits and '-', starting with a letter or digit"
        )
    return value


def _days(value: str) -> int:
    days = int(value)
    if not 1 <= days <= 36_500:
        raise argparse.ArgumentTypeError("must be 1-36500 days")
    return days


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(
        prog="python -m supervisor_service.admin_cli", description=__doc__.split("\n")[0]
    )
    commands = top.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-tenant", help="create a tenant")
    create.add_argument("tenant", type=_tenant_id)
    create.add_argument("--name", default="", help="display name (default: the id)")
    key = commands.add_parser("create-api-key", help="create an API key and print it (once)")
    key.add_argument("tenant", type=_tenant_id)
    key.add_argument("--scope", action="append", required=True, help="a scope to grant (repeatable)")
    key.add_argument("--name", default="", help="display name of the key")
    key.add_argument("--expires-in-days", type=_days, default=None, help="the key stops working after N days")
    commands.add_parser("list-tenants", help="list every tenant")
    revoke = commands.add_parser("revoke-api-key", help="revoke an API key at once")
    revoke.add_argument("tenant", type=_tenant_id)
    revoke.add_argument("key_id", help="the key's id: 12 hex digits (or mka_<12 hex>)")
    return top


async def _create_tenant(store: TenantStore, args: argparse.Namespace, platform: str) -> None:
    try:
        await store.create_tenant(args.tenant, args.name.strip() or args.tenant, Audit(_actor()))
    except AlreadyExists as exc:
        raise CliError(exc.message) from None
    print(f"tenant {args.tenant} created")


async def _create_api_key(store: TenantStore, args: argparse.Namespace, platform: str) -> None:
    problems = check_scopes("--scope", args.scope)
    if problems:
        raise CliError("; ".join(p.description for p in problems))
    if args.tenant == platform:  # the bootstrap: the platform tenant exists from its first key on
        await store.ensure_tenant(platform, "Platform", _actor())
    expires_at = datetime.now(UTC) + timedelta(days=args.expires_in_days) if args.expires_in_days else None
    created = await store.create_api_key(
        args.tenant, args.name.strip(), set(args.scope), Audit(_actor()), expires_at
    )
    if created is None:
        raise CliError(f"tenant {args.tenant} does not exist; create it first with create-tenant")
    record, key = created
    expiry = record.expires_at.isoformat() if record.expires_at else "never"
    print(
        f"api key {record.id} for tenant {record.tenant_id} (scopes: {' '.join(sorted(record.scopes))}; "
        f"expires: {expiry}). It is shown once: keep it now.",
        file=sys.stderr,
    )
    print(key)


async def _list_tenants(store: TenantStore, args: argparse.Namespace, platform: str) -> None:
    token = ""
    while True:
        tenants, token = await store.list_tenants(100, token)
        for tenant in tenants:
            secrets = ",".join(sorted(tenant.secret_names)) or "-"
            print(
                f"{tenant.id}\t{tenant.display_name}\tretention_days={tenant.retention_days}\t"
                f"secrets={secrets}\tcreated={tenant.created_at.isoformat()}"
            )
        if not token:
            return


async def _revoke_api_key(store: TenantStore, args: argparse.Namespace, platform: str) -> None:
    key_id = api_key_id(args.key_id)
    if key_id is None:
        raise CliError(f"{args.key_id!r} is not a key id (12 hex digits, or mka_<12 hex>)")
    record = await store.revoke_api_key(args.tenant, key_id, Audit(_actor()))
    if record is None:
        raise CliError(f"tenant {args.tenant} has no api key {key_id}")
    print(f"api key {key_id} of tenant {args.tenant} revoked")


COMMANDS = {
    "create-tenant": _create_tenant,
    "create-api-key": _create_api_key,
    "list-tenants": _list_tenants,
    "revoke-api-key": _revoke_api_key,
}


async def run(args: argparse.Namespace, settings: Settings) -> None:
    """Run one command against the supervisor's database."""
    records = await open_store(settings, "supervisor", migrations=(MIGRATIONS,))
    try:
        await COMMANDS[args.command](TenantStore(records.db), args, settings.auth_platform_tenant)
    finally:
        await records.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exits 1 when the command fails, 2 on bad usage or configuration."""
    args = parser().parse_args(argv)
    try:
        settings = get_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging("admin_cli", "WARNING", settings.log_format)
    for handler in logging.getLogger().handlers:  # stdout carries the answer (the key) alone
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
    try:
        asyncio.run(run(args, settings))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
