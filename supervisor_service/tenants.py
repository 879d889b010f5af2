"""Tenants, their API keys and the audit log: the tables of the supervisor's own migrations (``010_tenants.sql``).

Every method that touches one tenant's rows takes the tenant id first and filters by it in SQL; on PostgreSQL
row-level security is the backstop (see the migration). Cross-tenant work (listing tenants, finding an API key by
its id before the caller's tenant is known, a tenant's deletion) runs under the ``*`` tenant.

Social credentials are stored encrypted (``common.secrets``, the tenant id as associated data); the store returns
only which ones are set, and decrypts them only for :meth:`TenantStore.tenant_secrets`.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from marketing.admin.v1 import admin_pb2
from marketing.tenant.v1 import tenant_pb2

from common.auth.api_keys import API_KEY_PREFIX, TOUCH_INTERVAL, ApiKeyRecord, generate_api_key, hash_api_key
from common.auth.principal import TENANT_ID
from common.errors import ServiceError
from common.secrets import Keyring, SecretsUnavailable
from common.storage.database import ALL_TENANTS, Database
from common.storage.pages import BadPageToken

MIGRATIONS = "supervisor_service"
"""The package whose ``migrations/`` create the tables (``open_store(..., migrations=(MIGRATIONS,))``)."""

API_KEY_ID_HEX = 12

SECRET_NAMES = tuple(f.name for f in admin_pb2.SocialCredentials.DESCRIPTOR.fields)
"""The tenant secrets the store keeps: the fields of ``SocialCredentials``."""

T = TypeVar("T")


class AlreadyExists(ServiceError):
    """The resource to create exists already."""

    code = grpc.StatusCode.ALREADY_EXISTS


@dataclass(frozen=True)
class TenantRecord:
    """One row of ``tenants``, without its secrets."""

    id: str
    display_name: str
    profile: bytes  # serialized marketing.tenant.v1.TenantProfile
    retention_days: int
    secret_names: frozenset[str]  # which secrets are set, never their values
    created_at: datetime
    updated_at: datetime
    limits: bytes = b""  # serialized admin.v1.Tenant with only its budgets, quotas and rate limits (issue 16)


@dataclass(frozen=True)
class AuditEvent:
    """One row of ``audit_events``."""

    id: str
    tenant_id: str
    actor: str
    action: str
    resource: str
    details: dict[str, str]
    at: datetime


@dataclass(frozen=True)
class Audit:
    """Who makes a change, and details to record with it (never secrets)."""

    actor: str
    details: Mapping[str, str] = field(default_factory=dict)


def api_key_id(value: str) -> str | None:
    """The id of a key id given as ``<12 hex>`` or ``mka_<12 hex>``, or None when malformed."""
    bare = value.removeprefix(API_KEY_PREFIX)
    if len(bare) == API_KEY_ID_HEX and all(c in "0123456789abcdef" for c in bare):
        return bare
    return None


def _now() -> datetime:
    return datetime.now(UTC)


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _at(value: Any) -> datetime:
    when = _when(value)
    assert when is not None
    return when


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _tenant(row: Mapping[str, Any]) -> TenantRecord:
    return TenantRecord(
        id=row["id"],
        display_name=row["display_name"],
        profile=bytes(row["profile"]),
        retention_days=int(row["retention_days"]),
        secret_names=_names(row["secret_names"]),
        created_at=_at(row["created_at"]),
        updated_at=_at(row["updated_at"]),
        limits=bytes(row.get("limits") or b""),
    )


def _api_key(row: Mapping[str, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        display_name=row["display_name"],
        scopes=_names(row["scopes"]),
        key_hash=row["key_hash"],
        created_at=_at(row["created_at"]),
        expires_at=_when(row["expires_at"]),
        revoked_at=_when(row["revoked_at"]),
        last_used_at=_when(row["last_used_at"]),
    )


def _event(row: Mapping[str, Any]) -> AuditEvent:
    return AuditEvent(
        id=str(row["id"]),
        tenant_id=row["tenant_id"],
        actor=row["actor"],
        action=row["action"],
        resource=row["resource"],
        details={str(k): str(v) for k, v in json.loads(row["details"] or "{}").items()},
        at=_at(row["at"]),
    )


# --- page tokens -------------------------------------------------------------------------------------------


def _encode_token(key: list[str], filters: Mapping[str, str]) -> str:
    payload = json.dumps({"k": key, "f": dict(filters)}, sort_keys=True)
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_token(
    token: str, filters: Mapping[str, str], size: int, id_ok: Callable[[str], bool]
) -> list[str]:
    """The key a page token continues after: ``size`` strings, the last one a row id that ``id_ok`` accepts.

    Raises:
        BadPageToken: Malformed, not issued here, or issued for other filters.
    """
    bad = BadPageToken("page_token is not a token this service issued")
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key, issued_for = payload["k"], payload["f"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(key, list) or len(key) != size or not all(isinstance(k, str) for k in key):
        raise bad
    if not id_ok(key[-1]):
        raise bad
    if issued_for != dict(filters):
        raise BadPageToken("page_token was issued for another tenant")
    return key


def _uuid_ok(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _aware(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadPageToken("page_token is not a token this service issued") from None
    if when.tzinfo is None:
        raise BadPageToken("page_token is not a token this service issued")
    return when


async def _newest_first(
    tx: Database,
    table: str,
    time_column: str,
    tenant_id: str,
    page: tuple[int, str],
    record: Callable[[Mapping[str, Any]], T],
    id_ok: Callable[[str], bool],
) -> tuple[list[T], str]:
    """One page of a tenant's rows of ``table``, newest first by (``time_column``, id), and the next token."""
    page_size, page_token = page
    filters = {"tenant_id": tenant_id}
    args: list[Any] = [tenant_id]
    where = "tenant_id = $1"
    if page_token:
        at, last_id = _decode_token(page_token, filters, 2, id_ok)
        args += [_aware(at), last_id]
        where += f" AND ({time_column} < $2 OR ({time_column} = $2 AND id < $3))"
    args.append(page_size + 1)
    rows = await tx.fetch(
        f"SELECT * FROM {table} WHERE {where} ORDER BY {time_column} DESC, id DESC LIMIT ${len(args)}", *args
    )
    token = ""
    if len(rows) > page_size:
        last = rows[page_size - 1]
        token = _encode_token([_at(last[time_column]).isoformat(), str(last["id"])], filters)
    return [record(row) for row in rows[:page_size]], token


# --- the store ---------------------------------------------------------------------------------------------


class TenantStore:
    """Tenants, API keys and audit events on the supervisor's records database."""

    def __init__(self, database: Database, keyring: Keyring | None = None) -> None:
        """Args:
        database: The supervisor's records database (migrated with :data:`MIGRATIONS`).
        keyring: ``SECRETS_KEY_FILE``'s keys; without it, storing a secret is ``FAILED_PRECONDITION``.
        """
        self.db = database
        self.keyring = keyring

    @asynccontextmanager
    async def _tx(self, tenant_id: str) -> AsyncIterator[Database]:
        """One unit of work for one tenant (or :data:`ALL_TENANTS`): on PostgreSQL a transaction (a change and its
        audit event commit together) whose row-level security shows only that tenant's rows."""
        async with self.db.for_tenant(tenant_id) as tx:
            yield tx

    # --- secrets ------------------------------------------------------------------------------------------

    def _seal(self, tenant_id: str, values: Mapping[str, str]) -> tuple[str, str]:
        """The ciphertext and the names of the non-empty secrets (``""`` for none: clearing needs no key).

        Raises:
            ValueError: An unknown secret name.
            SecretsUnavailable: A secret to store, but no keyring.
        """
        unknown = set(values) - set(SECRET_NAMES)
        if unknown:
            raise ValueError(f"unknown tenant secrets {sorted(unknown)}")
        kept = {name: value for name, value in values.items() if value}
        if not kept:
            return "", ""
        if self.keyring is None:
            raise SecretsUnavailable("social credentials")
        plaintext = admin_pb2.SocialCredentials(**kept).SerializeToString()
        return self.keyring.encrypt(plaintext, tenant_id), " ".join(sorted(kept))

    async def tenant_secrets(self, tenant_id: str) -> dict[str, str]:
        """A tenant's secrets in clear text, by name (only the set ones); {} for an unknown tenant.

        Raises:
            SecretsUnavailable: Secrets are stored but no keyring is configured.
            DecryptionError: The ciphertext does not decrypt with the keyring.
        """
        async with self._tx(tenant_id) as tx:
            rows = await tx.fetch("SELECT secrets FROM tenants WHERE id = $1", tenant_id)
        if not rows or not rows[0]["secrets"]:
            return {}
        if self.keyring is None:
            raise SecretsUnavailable("social credentials")
        credentials = admin_pb2.SocialCredentials.FromString(
            self.keyring.decrypt(rows[0]["secrets"], tenant_id)
        )
        return {f.name: value for f, value in credentials.ListFields()}

    # --- tenants ------------------------------------------------------------------------------------------

    async def create_tenant(
        self,
        tenant_id: str,
        display_name: str,
        audit: Audit,
        *,
        profile: bytes = b"",
        retention_days: int = 0,
        secrets: Mapping[str, str] | None = None,
        limits: bytes = b"",
    ) -> TenantRecord:
        """Create a tenant and record ``tenant.create``.

        Raises:
            AlreadyExists: The tenant exists.
            SecretsUnavailable: Secrets to store, but no keyring.
        """
        sealed, names = self._seal(tenant_id, secrets or {})
        now = _now()
        async with self._tx(tenant_id) as tx:
            created = await tx.execute(
                "INSERT INTO tenants (id, display_name, profile, retention_days, secrets, secret_names, created_at, "
                "updated_at, limits) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) ON CONFLICT (id) DO NOTHING",
                tenant_id, display_name, profile, retention_days, sealed, names, now, limits,
            )  # fmt: skip
            if created != 1:
                raise AlreadyExists(f"tenant {tenant_id} already exists")
            await self._record(tx, tenant_id, audit, "tenant.create", f"tenants/{tenant_id}")
            rows = await tx.fetch("SELECT * FROM tenants WHERE id = $1", tenant_id)
        return _tenant(rows[0])

    async def ensure_tenant(self, tenant_id: str, display_name: str = "", actor: str = "system") -> bool:
        """Create a tenant unless it exists (the default tenant of AUTH_DISABLED, the platform tenant); returns
        whether it was created."""
        try:
            await self.create_tenant(tenant_id, display_name or tenant_id, Audit(actor))
        except AlreadyExists:
            return False
        return True

    async def get_tenant(self, tenant_id: str) -> TenantRecord | None:
        """One tenant, or None."""
        async with self._tx(tenant_id) as tx:
            rows = await tx.fetch("SELECT * FROM tenants WHERE id = $1", tenant_id)
        return _tenant(rows[0]) if rows else None

    async def limits_of(self, tenant_id: str) -> bytes | None:
        """A tenant's budgets, quotas and rate limits (the ``limits`` column: a serialized ``admin.v1.Tenant``
        with only those fields); None for a tenant without a row."""
        async with self._tx(tenant_id) as tx:
            rows = await tx.fetch("SELECT limits FROM tenants WHERE id = $1", tenant_id)
        return bytes(rows[0]["limits"] or b"") if rows else None

    async def profile_of(self, tenant_id: str) -> tenant_pb2.TenantProfile:
        """A tenant's profile, sent with every brief (the ``ProfileSource`` of the workflow runner); empty for a
        tenant without a row (the profile's fields then mean the deployment's defaults)."""
        record = await self.get_tenant(tenant_id)
        return tenant_pb2.TenantProfile.FromString(record.profile if record else b"")

    async def list_tenants(self, page_size: int, page_token: str = "") -> tuple[list[TenantRecord], str]:
        """Every tenant, ordered by id, ``page_size`` at a time; returns the page and the next token ("" last).

        Raises:
            BadPageToken: A token this store did not issue.
        """
        args: list[Any] = []
        where = ""
        if page_token:
            (after,) = _decode_token(page_token, {}, 1, lambda value: bool(TENANT_ID.match(value)))
            args.append(after)
            where = "WHERE id > $1"
        args.append(page_size + 1)
        async with self._tx(ALL_TENANTS) as tx:
            rows = await tx.fetch(f"SELECT * FROM tenants {where} ORDER BY id LIMIT ${len(args)}", *args)
        token = _encode_token([rows[page_size - 1]["id"]], {}) if len(rows) > page_size else ""
        return [_tenant(row) for row in rows[:page_size]], token

    async def update_tenant(
        self,
        tenant_id: str,
        audit: Audit,
        *,
        display_name: str | None = None,
        profile: bytes | None = None,
        retention_days: int | None = None,
        secrets: Mapping[str, str] | None = None,
        limits: bytes | None = None,
    ) -> TenantRecord | None:
        """Change the given fields (``secrets``: the complete new set) and record ``tenant.update`` with
        ``audit.details``; None when the tenant does not exist.

        Raises:
            SecretsUnavailable: Secrets to store, but no keyring.
        """
        changes: dict[str, Any] = {"updated_at": _now()}
        for column, value in (
            ("display_name", display_name),
            ("profile", profile),
            ("retention_days", retention_days),
            ("limits", limits),
        ):
            if value is not None:
                changes[column] = value
        if secrets is not None:
            changes["secrets"], changes["secret_names"] = self._seal(tenant_id, secrets)
        assignments = ", ".join(f"{column} = ${n}" for n, column in enumerate(changes, start=2))
        async with self._tx(tenant_id) as tx:
            rows = await tx.fetch(
                f"UPDATE tenants SET {assignments} WHERE id = $1 RETURNING *", tenant_id, *changes.values()
            )
            if not rows:
                return None
            await self._record(tx, tenant_id, audit, "tenant.update", f"tenants/{tenant_id}")
        return _tenant(rows[0])

    async def delete_tenant(self, tenant_id: str, audit: Audit, recorded_under: str) -> bool:
        """Delete a tenant with its API keys and audit events, and record ``tenant.delete`` in the audit log of
        ``recorded_under`` (the platform tenant); returns whether the tenant existed."""
        async with self._tx(ALL_TENANTS) as tx:
            await tx.execute("DELETE FROM api_keys WHERE tenant_id = $1", tenant_id)
            await tx.execute("DELETE FROM audit_events WHERE tenant_id = $1", tenant_id)
            deleted = await tx.execute("DELETE FROM tenants WHERE id = $1", tenant_id)
            if deleted:
                await self._record(tx, recorded_under, audit, "tenant.delete", f"tenants/{tenant_id}")
        return bool(deleted)

    async def retention_policies(self) -> list[tuple[str, int]]:
        """Every tenant that has a retention, with its days: the ``TenantRetention`` of
        ``supervisor_service.retention`` (the others keep their workflows)."""
        async with self._tx(ALL_TENANTS) as tx:
            rows = await tx.fetch(
                "SELECT id, retention_days FROM tenants WHERE retention_days > 0 ORDER BY id"
            )
        return [(row["id"], int(row["retention_days"])) for row in rows]

    # --- API keys -----------------------------------------------------------------------------------------

    async def create_api_key(
        self,
        tenant_id: str,
        display_name: str,
        scopes: Collection[str],
        audit: Audit,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKeyRecord, str] | None:
        """Create an API key and record ``api_key.create``; returns the record and the key (shown once: only its
        hash is stored), or None when the tenant does not exist."""
        key_id, key = generate_api_key()
        async with self._tx(tenant_id) as tx:
            created = await tx.execute(
                "INSERT INTO api_keys (id, tenant_id, display_name, scopes, key_hash, created_at, expires_at) "
                "SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $2)",
                key_id, tenant_id, display_name, " ".join(sorted(scopes)), hash_api_key(key), _now(), expires_at,
            )  # fmt: skip
            if created != 1:
                return None
            details = {"scopes": " ".join(sorted(scopes)), **audit.details}
            await self._record(
                tx, tenant_id, Audit(audit.actor, details), "api_key.create", f"api_keys/{key_id}"
            )
            rows = await tx.fetch("SELECT * FROM api_keys WHERE id = $1", key_id)
        return _api_key(rows[0]), key

    async def get_api_key(self, tenant_id: str, key_id: str) -> ApiKeyRecord | None:
        """One of a tenant's keys, or None."""
        async with self._tx(tenant_id) as tx:
            rows = await tx.fetch(
                "SELECT * FROM api_keys WHERE tenant_id = $1 AND id = $2", tenant_id, key_id
            )
        return _api_key(rows[0]) if rows else None

    async def list_api_keys(
        self, tenant_id: str, page_size: int, page_token: str = ""
    ) -> tuple[list[ApiKeyRecord], str]:
        """A tenant's keys, newest first.

        Raises:
            BadPageToken: A token this store did not issue, or issued for another tenant.
        """
        async with self._tx(tenant_id) as tx:
            return await _newest_first(
                tx,
                "api_keys",
                "created_at",
                tenant_id,
                (page_size, page_token),
                _api_key,
                lambda value: api_key_id(value) == value,
            )

    async def revoke_api_key(self, tenant_id: str, key_id: str, audit: Audit) -> ApiKeyRecord | None:
        """Revoke a key at once (again: no change) and record ``api_key.revoke``; None when the tenant has no
        such key."""
        async with self._tx(tenant_id) as tx:
            revoked = await tx.execute(
                "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
                tenant_id, key_id, _now(),
            )  # fmt: skip
            if revoked:
                await self._record(tx, tenant_id, audit, "api_key.revoke", f"api_keys/{key_id}")
            rows = await tx.fetch(
                "SELECT * FROM api_keys WHERE tenant_id = $1 AND id = $2", tenant_id, key_id
            )
        return _api_key(rows[0]) if rows else None

    async def find_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key of an id (``<12 hex>`` or ``mka_<12 hex>``) whatever its tenant, to authenticate a call; None
        when there is none (revoked and expired keys are returned: the caller checks)."""
        bare = api_key_id(key_id)
        if bare is None:
            return None
        async with self._tx(ALL_TENANTS) as tx:
            rows = await tx.fetch("SELECT * FROM api_keys WHERE id = $1", bare)
        return _api_key(rows[0]) if rows else None

    async def has_active_api_keys(self) -> bool:
        """Whether any tenant has a key that is neither revoked nor expired (the supervisor may then serve beyond
        loopback without TLS: it authenticates its callers)."""
        async with self._tx(ALL_TENANTS) as tx:
            rows = await tx.fetch(
                "SELECT 1 FROM api_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1) LIMIT 1",
                _now(),
            )
        return bool(rows)

    async def touch_api_key(self, key_id: str, when: datetime) -> None:
        """Record a key's use, at most once per :data:`TOUCH_INTERVAL` (a no-op inside it)."""
        bare = api_key_id(key_id)
        if bare is None:
            return
        async with self._tx(ALL_TENANTS) as tx:
            await tx.execute(
                "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)",
                bare, when, when - TOUCH_INTERVAL,
            )  # fmt: skip

    # --- audit log ----------------------------------------------------------------------------------------

    @staticmethod
    async def _record(tx: Database, tenant_id: str, audit: Audit, action: str, resource: str) -> AuditEvent:
        event = AuditEvent(
            str(uuid.uuid4()), tenant_id, audit.actor, action, resource, dict(audit.details), _now()
        )
        await tx.execute(
            "INSERT INTO audit_events (id, tenant_id, actor, action, resource, details, at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            event.id, tenant_id, event.actor, action, resource, json.dumps(event.details, sort_keys=True), event.at,
        )  # fmt: skip
        return event

    async def record_event(
        self, tenant_id: str, actor: str, action: str, resource: str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Record an audit event (``workflow.delete``, ``workflow.purge``, ...): the ``AuditLog`` of
        ``supervisor_service.retention``. ``details`` never hold secrets; values other than strings are stored as
        JSON."""
        values = {
            str(k): v if isinstance(v, str) else json.dumps(v, sort_keys=True)
            for k, v in (details or {}).items()
        }
        async with self._tx(tenant_id) as tx:
            await self._record(tx, tenant_id, Audit(actor, values), action, resource)

    @staticmethod
    def events_cursor(tenant_id: str, page_token: str) -> tuple[datetime, str] | None:
        """The (time, id) a ``list_events`` page token continues after (None for no token); the teams' audit logs
        are read from the same cursor when ListAuditEvents merges them.

        Raises:
            BadPageToken: A token this store did not issue, or issued for another tenant.
        """
        if not page_token:
            return None
        at, last_id = _decode_token(page_token, {"tenant_id": tenant_id}, 2, _uuid_ok)
        return _aware(at), last_id

    @staticmethod
    def events_token(tenant_id: str, at: datetime, event_id: str) -> str:
        """The ``list_events`` page token of the page after the event (``at``, ``event_id``)."""
        return _encode_token([at.isoformat(), event_id], {"tenant_id": tenant_id})

    async def list_events(
        self, tenant_id: str, page_size: int, page_token: str = ""
    ) -> tuple[list[AuditEvent], str]:
        """A tenant's audit events, newest first.

        Raises:
            BadPageToken: A token this store did not issue, or issued for another tenant.
        """
        async with self._tx(tenant_id) as tx:
            return await _newest_first(
                tx, "audit_events", "at", tenant_id, (page_size, page_token), _event, _uuid_ok
            )
