"""The tenant store (tenants, API keys, audit log) on SQLite and PostgreSQL, with PostgreSQL's row-level security."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from marketing.tenant.v1 import tenant_pb2

from common.auth.api_keys import ApiKeyVerifier, hash_api_key
from common.auth.principal import AuthMethod
from common.config import load_settings
from common.errors import Unauthenticated
from common.secrets import DecryptionError, Keyring, SecretsUnavailable, new_key_line
from common.storage import BadPageToken, Store, open_store
from supervisor_service.tenants import MIGRATIONS, AlreadyExists, Audit, TenantStore, api_key_id

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
SECRET = "x-bearer-5d1e0c-do-not-leak"


@asynccontextmanager
async def open_records(backend: str, tmp_path: Path) -> AsyncIterator[Store]:
    """The supervisor's records, migrated with its own tables: a SQLite file; a PostgreSQL schema of its own
    (``postgres``: as the superuser, which row-level security does not bind); or a schema owned by a throwaway
    ``NOSUPERUSER NOBYPASSRLS`` role that the store connects as (``postgres-rls``: every query meets the policies)."""
    if backend == "sqlite":
        store = await open_store(load_settings(data_dir=tmp_path), "supervisor", migrations=(MIGRATIONS,))
        yield store
        await store.close()
        return
    schema = f"test_{uuid.uuid4().hex[:12]}"
    role = f"app_{uuid.uuid4().hex[:10]}" if backend == "postgres-rls" else None
    admin = await asyncpg.connect(POSTGRES_URL)
    url = POSTGRES_URL
    try:
        if role is not None:
            await admin.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS")
            await admin.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {role}")
            url = POSTGRES_URL.replace("postgres@", f"{role}@")
        else:
            await admin.execute(f"CREATE SCHEMA {schema}")
        store = await open_store(
            load_settings(database_url=url), "supervisor", schema=schema, migrations=(MIGRATIONS,)
        )
        yield store
        await store.close()
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        if role is not None:
            await admin.execute(f"DROP ROLE {role}")
        await admin.close()


async def raw(records: Store, sql: str, *args: object) -> list[dict[str, Any]]:
    """A query across tenants, as the service's own background work runs it."""
    async with records.db.for_tenant("*") as tx:
        return await tx.fetch(sql, *args)


@pytest.fixture(params=["sqlite", "postgres", "postgres-rls"])
async def records(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_records(request.param, tmp_path) as store:
        yield store


@pytest.fixture
def tenants(records: Store) -> TenantStore:
    return TenantStore(records.db, Keyring.parse(new_key_line("k1")))


ACTOR = Audit("api_key:0123456789ab")


async def test_tenants_are_created_once_read_updated_and_listed_by_id_a_page_at_a_time(
    tenants: TenantStore,
) -> None:
    created = await tenants.create_tenant("acme", "Acme", ACTOR, profile=b"\x1a\x03UTC", retention_days=30)
    assert await tenants.profile_of("acme") == tenant_pb2.TenantProfile(time_zone="UTC")
    assert await tenants.profile_of("nobody") == tenant_pb2.TenantProfile()
    assert (created.id, created.display_name, created.profile, created.retention_days) == (
        "acme",
        "Acme",
        b"\x1a\x03UTC",
        30,
    )
    assert created.secret_names == frozenset() and created.created_at == created.updated_at
    with pytest.raises(AlreadyExists):
        await tenants.create_tenant("acme", "Again", ACTOR)
    assert await tenants.ensure_tenant("acme") is False
    assert await tenants.ensure_tenant("default") is True
    for tenant_id in ("globex", "initech", "hooli"):
        await tenants.create_tenant(tenant_id, tenant_id.title(), ACTOR)

    updated = await tenants.update_tenant(
        "acme", Audit("jwt:alice", {"paths": "display_name"}), display_name="ACME"
    )
    assert updated is not None and updated.display_name == "ACME" and updated.retention_days == 30
    assert updated.updated_at > created.updated_at
    assert await tenants.update_tenant("nobody", ACTOR, display_name="x") is None
    assert await tenants.get_tenant("nobody") is None

    seen, token = [], ""
    for _ in range(3):
        page, token = await tenants.list_tenants(2, token)
        seen += [t.id for t in page]
        if not token:
            break
    assert seen == ["acme", "default", "globex", "hooli", "initech"]
    assert await tenants.retention_policies() == [("acme", 30)]
    with pytest.raises(BadPageToken):
        await tenants.list_tenants(2, "bm90IGEgdG9rZW4")


async def test_secrets_are_stored_encrypted_for_their_tenant_and_only_their_names_are_read(
    records: Store, tenants: TenantStore
) -> None:
    await tenants.create_tenant(
        "acme", "Acme", ACTOR, secrets={"x_bearer_token": SECRET, "linkedin_author_urn": ""}
    )
    record = await tenants.get_tenant("acme")
    assert record is not None and record.secret_names == {"x_bearer_token"}
    [row] = await raw(records, "SELECT * FROM tenants WHERE id = $1", "acme")
    assert row["secrets"].startswith("v1.k1.") and SECRET not in str(row)
    assert await tenants.tenant_secrets("acme") == {"x_bearer_token": SECRET}

    # A ciphertext copied into another tenant's row does not decrypt (the tenant id is the associated data).
    await tenants.create_tenant("globex", "Globex", ACTOR)
    async with records.db.for_tenant("globex") as tx:
        await tx.execute("UPDATE tenants SET secrets = $1 WHERE id = 'globex'", row["secrets"])
    with pytest.raises(DecryptionError):
        await tenants.tenant_secrets("globex")

    # Clearing needs no key; storing one without a key file is refused, naming SECRETS_KEY_FILE.
    keyless = TenantStore(records.db)
    await keyless.update_tenant("acme", ACTOR, secrets={"x_bearer_token": ""})
    assert await keyless.tenant_secrets("acme") == {}
    with pytest.raises(SecretsUnavailable, match="SECRETS_KEY_FILE"):
        await keyless.update_tenant("acme", ACTOR, secrets={"x_bearer_token": SECRET})


async def test_api_keys_store_only_a_hash_and_record_use_at_most_once_a_minute(
    records: Store, tenants: TenantStore
) -> None:
    await tenants.create_tenant("acme", "Acme", ACTOR)
    expires = datetime.now(UTC) + timedelta(days=30)
    created = await tenants.create_api_key(
        "acme", "ci", {"marketing.tasks.write", "marketing.tasks.read"}, ACTOR, expires
    )
    assert created is not None
    record, key = created
    prefix, key_id, secret = key.split("_", 2)
    assert (prefix, key_id, len(secret)) == ("mka", record.id, 43) and api_key_id(key_id) == key_id
    assert record.key_hash == hash_api_key(key) and record.scopes == {
        "marketing.tasks.write",
        "marketing.tasks.read",
    }
    assert record.expires_at is not None and abs(record.expires_at - expires) < timedelta(seconds=1)
    rows = await raw(records, "SELECT * FROM api_keys")
    assert key not in str(rows) and secret not in str(rows)
    assert await tenants.create_api_key("nobody", "x", {"marketing.admin"}, ACTOR) is None

    assert await tenants.find_api_key(key_id) == record
    assert await tenants.find_api_key(f"mka_{key_id}") == record
    assert await tenants.find_api_key("not-an-id") is None
    first = datetime.now(UTC)
    await tenants.touch_api_key(key_id, first)
    await tenants.touch_api_key(key_id, first + timedelta(seconds=30))  # inside the minute: not written
    found = await tenants.find_api_key(key_id)
    assert found is not None and found.last_used_at == first
    await tenants.touch_api_key(key_id, first + timedelta(seconds=61))
    found = await tenants.find_api_key(key_id)
    assert found is not None and found.last_used_at == first + timedelta(seconds=61)

    assert await tenants.revoke_api_key("globex", key_id, ACTOR) is None, "another tenant's key is not found"
    revoked = await tenants.revoke_api_key("acme", key_id, ACTOR)
    assert revoked is not None and revoked.revoked_at is not None
    again = await tenants.revoke_api_key("acme", key_id, ACTOR)
    assert again is not None and again.revoked_at == revoked.revoked_at
    events, _ = await tenants.list_events("acme", 10)
    assert [e.action for e in events] == ["api_key.revoke", "api_key.create", "tenant.create"]


async def test_api_keys_and_audit_events_page_newest_first_with_tokens_bound_to_the_tenant(
    tenants: TenantStore,
) -> None:
    for tenant_id in ("acme", "globex"):
        await tenants.create_tenant(tenant_id, tenant_id, ACTOR)
    ids = []
    for n in range(5):
        created = await tenants.create_api_key("acme", f"key {n}", {"marketing.tasks.read"}, ACTOR)
        assert created is not None
        ids.append(created[0].id)
    await tenants.create_api_key("globex", "theirs", {"marketing.tasks.read"}, ACTOR)
    listed, token = [], ""
    while True:
        page, token = await tenants.list_api_keys("acme", 2, token)
        listed += [k.id for k in page]
        if not token:
            break
        with pytest.raises(BadPageToken, match="another tenant"):
            await tenants.list_api_keys("globex", 2, token)
    assert listed == list(reversed(ids))

    await tenants.record_event(
        "acme", "system", "workflow.purge", "tenants/acme", {"workflows": 3, "note": "x"}
    )
    events, token = await tenants.list_events("acme", 3)
    assert [e.action for e in events] == ["workflow.purge", "api_key.create", "api_key.create"]
    assert events[0].details == {"workflows": "3", "note": "x"} and events[0].actor == "system"
    rest, last = await tenants.list_events("acme", 10, token)
    assert len(rest) == 4 and last == "" and rest[-1].action == "tenant.create"
    assert {e.tenant_id for e in events + rest} == {"acme"}


async def test_deleting_a_tenant_erases_its_rows_and_records_the_deletion_under_the_platform(
    records: Store, tenants: TenantStore
) -> None:
    await tenants.ensure_tenant("platform")
    for tenant_id in ("acme", "globex"):
        await tenants.create_tenant(tenant_id, tenant_id, ACTOR, secrets={"x_bearer_token": SECRET})
        await tenants.create_api_key(tenant_id, "k", {"marketing.admin"}, ACTOR)
    assert await tenants.delete_tenant("acme", Audit("jwt:root", {"erased_workflows": "2"}), "platform")
    assert not await tenants.delete_tenant("acme", ACTOR, "platform")
    for table, column in (("tenants", "id"), ("api_keys", "tenant_id"), ("audit_events", "tenant_id")):
        assert await raw(records, f"SELECT * FROM {table} WHERE {column} = 'acme'") == [], table
        assert await raw(records, f"SELECT * FROM {table} WHERE {column} = 'globex'"), table
    events, _ = await tenants.list_events("platform", 10)
    assert (events[0].action, events[0].resource, events[0].actor, events[0].details) == (
        "tenant.delete",
        "tenants/acme",
        "jwt:root",
        {"erased_workflows": "2"},
    )


async def test_postgres_row_level_security_is_forced_and_hides_other_tenants_rows(
    records: Store, tenants: TenantStore
) -> None:
    if records.dialect != "postgres":
        pytest.skip("row-level security is PostgreSQL's")
    for tenant_id in ("acme", "globex"):
        await tenants.create_tenant(tenant_id, tenant_id, ACTOR)
        await tenants.create_api_key(tenant_id, "k", {"marketing.admin"}, ACTOR)
    flags = await records.db.fetch(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
        "WHERE relnamespace = current_schema()::regnamespace AND relname IN ('tenants', 'api_keys', 'audit_events')"
    )
    assert {(r["relname"], r["relrowsecurity"], r["relforcerowsecurity"]) for r in flags} == {
        ("tenants", True, True),
        ("api_keys", True, True),
        ("audit_events", True, True),
    }
    if not records.db.row_security_enforced:  # type: ignore[attr-defined]
        return  # the superuser bypasses the policies; the postgres-rls backend checks them
    for table, column in (("tenants", "id"), ("api_keys", "tenant_id"), ("audit_events", "tenant_id")):
        assert await records.db.fetch(f"SELECT * FROM {table}") == [], f"{table}: no tenant bound, no row"
        async with records.db.for_tenant("acme") as tx:
            assert {r[column] for r in await tx.fetch(f"SELECT {column} FROM {table}")} == {"acme"}, table
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # WITH CHECK: no row for another tenant
                await tx.execute(
                    "INSERT INTO audit_events (id, tenant_id, actor, action, resource, at) "
                    "VALUES ($1, 'globex', 'x', 'x', 'x', now())",
                    str(uuid.uuid4()),
                )
        assert {r[column] for r in await raw(records, f"SELECT {column} FROM {table}")} == {"acme", "globex"}


async def test_the_store_is_the_api_key_lookup_of_the_authenticator(tenants: TenantStore) -> None:
    await tenants.create_tenant("acme", "Acme", ACTOR)
    created = await tenants.create_api_key("acme", "ci", {"marketing.tasks.read"}, ACTOR)
    assert created is not None
    record, key = created
    verifier = ApiKeyVerifier(tenants)
    principal = await verifier.verify(key)
    assert (principal.tenant_id, principal.subject, principal.scopes, principal.method) == (
        "acme",
        record.id,
        {"marketing.tasks.read"},
        AuthMethod.API_KEY,
    )
    found = await tenants.find_api_key(record.id)
    assert found is not None and found.last_used_at is not None
    with pytest.raises(Unauthenticated):
        await verifier.verify(key[:-1] + ("A" if key[-1] != "A" else "B"))
    await tenants.revoke_api_key("acme", record.id, ACTOR)
    with pytest.raises(Unauthenticated, match="revoked"):
        await verifier.verify(key)
