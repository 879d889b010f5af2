"""From an ``authorization`` header to a principal: an API key of a tenant, or an OAuth2 access token (JWT)."""

from __future__ import annotations

from common.auth.api_keys import ApiKeyLookup, ApiKeyVerifier, looks_like_api_key
from common.auth.jwt_tokens import JwtVerifier
from common.auth.principal import ANONYMOUS, Principal
from common.config import Settings
from common.errors import Unauthenticated
from common.logging import get_logger

log = get_logger(__name__)

_SCHEME = "bearer"


class Authenticator:
    """Establishes who calls from the ``authorization`` header of a call.

    Args:
        jwt: Verifies access tokens; None when no issuer is configured (then only API keys are accepted).
        api_keys: The API key store; None when the server has none (then only access tokens are accepted).
        disabled: ``AUTH_DISABLED=true``: every call is ``ANONYMOUS`` (the default tenant, every scope),
            whatever it carries.
    """

    def __init__(
        self, jwt: JwtVerifier | None, api_keys: ApiKeyLookup | None, disabled: bool = False
    ) -> None:
        self.jwt = jwt
        self.api_keys = ApiKeyVerifier(api_keys) if api_keys is not None else None
        self.disabled = disabled

    @classmethod
    def from_settings(cls, settings: Settings, api_keys: ApiKeyLookup | None) -> Authenticator:
        """The authenticator the settings describe (``AUTH_DISABLED``, ``AUTH_ISSUER``/``AUTH_JWKS_URL``...)."""
        if settings.auth_disabled:
            log.warning(
                "auth_disabled", tenant=ANONYMOUS.tenant_id, note="every call acts for the default tenant"
            )
        return cls(JwtVerifier.from_settings(settings), api_keys, settings.auth_disabled)

    async def aclose(self) -> None:
        """Release the JWT verifier's HTTP client."""
        if self.jwt is not None:
            await self.jwt.aclose()

    async def authenticate(self, authorization: str | None) -> Principal:
        """The principal of a call from its ``authorization`` header value (``Bearer <credential>``).

        Raises:
            Unauthenticated: No or malformed header (``missing_credentials``), a kind of credential this server
                does not accept (``unsupported_credentials``), or a credential its verifier refuses.
        """
        if self.disabled:
            return ANONYMOUS
        credential = bearer_credential(authorization)
        if looks_like_api_key(credential):
            if self.api_keys is None:
                raise Unauthenticated("this server accepts no API keys", "unsupported_credentials")
            return await self.api_keys.verify(credential)
        if self.jwt is None:
            raise Unauthenticated(
                "this server accepts API keys only (no token issuer is configured)", "unsupported_credentials"
            )
        return await self.jwt.verify(credential)


def bearer_credential(authorization: str | None) -> str:
    """The credential of an ``authorization: Bearer <credential>`` value.

    Raises:
        Unauthenticated: The value is missing, uses another scheme, or is not exactly a scheme and a credential
            (reason ``missing_credentials``).
    """
    if authorization is None or not authorization.strip():
        raise Unauthenticated(
            "this call needs 'authorization: Bearer <access token or API key>' metadata",
            "missing_credentials",
        )
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != _SCHEME:
        raise Unauthenticated(
            "the authorization metadata must be 'Bearer <access token or API key>'", "missing_credentials"
        )
    return parts[1]
