"""``python -m supervisor_service.admin_cli``, end to end in subprocesses: the bootstrap of the first platform
administrator's key, tenants and keys written straight to the supervisor's database (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from common.auth.api_keys import ApiKeyVerifier
from common.config import load_settings
from common.errors import Unauthenticated
from common.storage import open_store
from supervisor_service.tenants import MIGRATIONS, TenantStore

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parents[2]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor_service.admin_cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def environment(**values: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SECRETS_", "AUTH_", "DATA_"))
    }
    env.update(values)
    return env


async def test_the_cli_bootstraps_the_platform_key_and_manages_tenants_and_keys(tmp_path: Path) -> None:
    env = environment(DATA_DIR=str(tmp_path))
    boot = cli(env, "create-api-key", "platform", "--scope", "marketing.admin", "--name", "bootstrap")
    assert boot.returncode == 0, boot.stderr
    platform_key = boot.stdout.strip()
    assert platform_key.startswith("mka_") and "\n" not in platform_key, "stdout carries the key alone"
    assert "shown once" in boot.stderr and platform_key not in boot.stderr

    assert cli(env, "create-tenant", "acme", "--name", "Acme Inc.").returncode == 0
    again = cli(env, "create-tenant", "acme")
    assert (again.returncode, again.stderr.strip()) == (1, "error: tenant acme already exists")
    key = cli(env, "create-api-key", "acme", "--scope", "marketing.tasks.write", "--expires-in-days", "90")
    assert key.returncode == 0, key.stderr
    acme_key = key.stdout.strip()
    for args, code, message in (
        (("create-api-key", "nobody", "--scope", "marketing.admin"), 1, "tenant nobody does not exist"),
        (("create-api-key", "acme", "--scope", "root"), 1, "unknown scope 'root'"),
        (("create-tenant", "Not_An_Id"), 2, "a tenant id is 2-63"),
        (("revoke-api-key", "acme", "0" * 12), 1, f"tenant acme has no api key {'0' * 12}"),
    ):
        failed = cli(env, *args)
        assert (failed.returncode, message in failed.stderr) == (code, True), (args, failed.stderr)

    listed = cli(env, "list-tenants")
    assert [line.split("\t")[:2] for line in listed.stdout.splitlines()] == [
        ["acme", "Acme Inc."],
        ["platform", "Platform"],
    ]
    acme_key_id = acme_key.split("_")[1]
    revoked = cli(env, "revoke-api-key", "acme", f"mka_{acme_key_id}")
    assert revoked.returncode == 0, revoked.stderr

    records = await open_store(load_settings(data_dir=tmp_path), "supervisor", migrations=(MIGRATIONS,))
    try:
        store = TenantStore(records.db)
        verifier = ApiKeyVerifier(store)
        admin = await verifier.verify(platform_key)
        assert (admin.tenant_id, admin.scopes) == ("platform", {"marketing.admin"})
        with pytest.raises(Unauthenticated, match="revoked"):
            await verifier.verify(acme_key)
        found = await store.find_api_key(acme_key_id)
        assert found is not None and found.expires_at is not None
        events, _ = await store.list_events("acme", 10)
        assert [(e.action, e.actor.startswith("cli")) for e in events] == [
            ("api_key.revoke", True),
            ("api_key.create", True),
            ("tenant.create", True),
        ]
    finally:
        await records.close()


async def test_the_cli_writes_the_postgresql_database_of_database_url() -> None:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        env = environment(DATABASE_URL=f"{POSTGRES_URL}?search_path={schema}")
        boot = cli(env, "create-api-key", "platform", "--scope", "marketing.admin")
        assert boot.returncode == 0, boot.stderr
        key_id = boot.stdout.strip().split("_")[1]
        rows = await admin.fetch(
            f"SELECT tenant_id, scopes, key_hash FROM {schema}.api_keys WHERE id = $1", key_id
        )
        assert [(r["tenant_id"], r["scopes"]) for r in rows] == [("platform", "marketing.admin")]
        assert boot.stdout.strip() not in str(rows)
        listed = cli(env, "list-tenants")
        assert listed.returncode == 0 and listed.stdout.startswith("platform\tPlatform\t"), listed.stderr
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
