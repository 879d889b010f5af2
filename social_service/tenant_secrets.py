"""A tenant's social-platform credentials, encrypted at rest (table ``tenant_secrets``, created by the social
service's migrations).

Values are encrypted with the ``SECRETS_KEY_FILE`` keyring (``common.secrets.Keyring``: AES-GCM, the tenant id as
associated data, so a value copied to another tenant's row does not decrypt); a stored value is the keyring's
token, never the plaintext. Values leave this module only towards the publisher that sends them to the platform:
never in an RPC answer, an artifact or a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from common.logging import get_logger
from common.secrets import DecryptionError, Keyring, SecretsUnavailable
from common.storage.database import Database

log = get_logger(__name__)

X_BEARER_TOKEN = "x_bearer_token"
LINKEDIN_ACCESS_TOKEN = "linkedin_access_token"
LINKEDIN_AUTHOR_URN = "linkedin_author_urn"
SECRET_NAMES = (X_BEARER_TOKEN, LINKEDIN_ACCESS_TOKEN, LINKEDIN_AUTHOR_URN)
"""The secrets the social team keeps per tenant (``TeamService/SetTenantSecrets``)."""

NO_KEY_FILE = "this social service has no SECRETS_KEY_FILE to decrypt them with"


class SecretUnavailable(Exception):
    """A tenant's stored secret cannot be read (no key file, or its key is no longer in it)."""


class TenantSecrets:
    """A tenant's secrets, encrypted with the keyring (``None``: no ``SECRETS_KEY_FILE``; nothing can be stored
    and stored values cannot be read, only deleted)."""

    def __init__(self, database: Database, keyring: Keyring | None) -> None:
        self.db = database
        self.keyring = keyring

    async def set(self, tenant_id: str, values: Mapping[str, str]) -> list[str]:
        """Store (an empty value: delete) a tenant's secrets, replacing earlier values.

        Returns:
            The names of the secrets the tenant now has, sorted.

        Raises:
            SecretsUnavailable: A value to store, and no ``SECRETS_KEY_FILE`` (``FAILED_PRECONDITION``).
        """
        if self.keyring is None and any(values.values()):
            raise SecretsUnavailable("the tenant's social-platform credentials")
        now = datetime.now(UTC)
        async with self.db.for_tenant(tenant_id) as db:
            for name, value in sorted(values.items()):
                if not value:
                    await db.execute(
                        "DELETE FROM tenant_secrets WHERE tenant_id = $1 AND name = $2", tenant_id, name
                    )
                    continue
                assert self.keyring is not None
                await db.execute(
                    "INSERT INTO tenant_secrets (tenant_id, name, value, updated_at) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value, "
                    "updated_at = excluded.updated_at",
                    tenant_id, name, self.keyring.encrypt(value, tenant_id), now,
                )  # fmt: skip
            rows = await db.fetch(
                "SELECT name FROM tenant_secrets WHERE tenant_id = $1 ORDER BY name", tenant_id
            )
        return [str(row["name"]) for row in rows]

    async def names(self, tenant_id: str) -> list[str]:
        """The names of the tenant's secrets, sorted."""
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch(
                "SELECT name FROM tenant_secrets WHERE tenant_id = $1 ORDER BY name", tenant_id
            )
        return [str(row["name"]) for row in rows]

    async def values(self, tenant_id: str) -> dict[str, str]:
        """The tenant's secrets, decrypted (for the publisher only).

        Raises:
            SecretUnavailable: A stored value cannot be decrypted (no key file, or a key removed from it).
        """
        async with self.db.for_tenant(tenant_id) as db:
            rows = await db.fetch("SELECT name, value FROM tenant_secrets WHERE tenant_id = $1", tenant_id)
        if rows and self.keyring is None:
            raise SecretUnavailable(f"tenant {tenant_id} has stored credentials, but {NO_KEY_FILE}")
        secrets: dict[str, str] = {}
        for row in rows:
            assert self.keyring is not None
            try:
                secrets[str(row["name"])] = self.keyring.decrypt_text(str(row["value"]), tenant_id)
            except (DecryptionError, UnicodeDecodeError) as exc:  # messages never hold a value
                raise SecretUnavailable(
                    f"the stored {row['name']} of tenant {tenant_id} cannot be decrypted with SECRETS_KEY_FILE "
                    f"({type(exc).__name__}); set it again or restore the key that encrypted it"
                ) from None
        return secrets

    async def erase_tenant(self, tenant_id: str) -> int:
        """Delete every secret of the tenant; returns how many."""
        async with self.db.for_tenant(tenant_id) as db:
            return await db.execute("DELETE FROM tenant_secrets WHERE tenant_id = $1", tenant_id)
