"""Tokens issued by a real OpenID provider (oidc-provider-mock on 127.0.0.1), verified through its discovery
document and JWKS: the tenant claim and scopes come through; another audience or another issuer is refused.

oidc-provider-mock issues opaque access tokens; its ID tokens are the JWTs it signs (RS256, no ``kid`` in the
header, one key in its JWKS), with ``aud = [client_id]`` and the user's non-standard claims. The tests use those,
with the client id as the audience.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from common.auth.authenticator import Authenticator
from common.auth.jwt_tokens import JwtVerifier
from common.auth.principal import AuthMethod
from common.config import load_settings
from common.errors import Unauthenticated
from tests.fakes.oidc import OidcProvider

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning:authlib.*"
)  # the provider's own deprecations

AUDIENCE = "marketing-api"
USERS = {
    "alice": {"tenant_id": "acme", "scope": "marketing.tasks.write marketing.tasks.read"},
    "bob": {"tenant_id": "globex", "scope": "marketing.tasks.read"},
    "carol": {"email": "carol@example.com"},  # no tenant
}


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with OidcProvider(USERS) as running:
        yield running


@pytest.fixture
async def authenticator(provider: OidcProvider) -> AsyncIterator[Authenticator]:
    settings = load_settings(auth_issuer=provider.issuer, auth_audience=AUDIENCE)
    authenticator = Authenticator.from_settings(settings, None)
    yield authenticator
    await authenticator.aclose()


async def issued(provider: OidcProvider, sub: str, client_id: str = AUDIENCE) -> str:
    return await asyncio.to_thread(provider.token, sub, client_id)


async def test_tokens_of_two_tenants_authenticate_through_discovery(
    provider: OidcProvider, authenticator: Authenticator
) -> None:
    alice = await authenticator.authenticate(f"Bearer {await issued(provider, 'alice')}")
    bob = await authenticator.authenticate(f"Bearer {await issued(provider, 'bob')}")
    assert (alice.tenant_id, alice.subject, alice.method) == ("acme", "alice", AuthMethod.JWT)
    assert alice.scopes == {"marketing.tasks.write", "marketing.tasks.read"}
    assert (bob.tenant_id, bob.scopes) == ("globex", {"marketing.tasks.read"})
    assert authenticator.jwt is not None and authenticator.jwt.fetches == 1


async def test_a_token_for_another_audience_is_refused(
    provider: OidcProvider, authenticator: Authenticator
) -> None:
    token = await issued(provider, "alice", client_id="another-app")
    with pytest.raises(Unauthenticated) as caught:
        await authenticator.authenticate(f"Bearer {token}")
    assert caught.value.reason == "bad_audience"


async def test_a_token_without_the_tenant_claim_is_refused(
    provider: OidcProvider, authenticator: Authenticator
) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await authenticator.authenticate(f"Bearer {await issued(provider, 'carol')}")
    assert caught.value.reason == "missing_tenant"


async def test_a_token_of_another_provider_is_refused(provider: OidcProvider) -> None:
    with OidcProvider(USERS) as other:
        foreign = await issued(other, "alice")
    verifier = JwtVerifier(AUDIENCE, issuer=provider.issuer)
    try:
        with pytest.raises(Unauthenticated) as caught:
            await verifier.verify(foreign)
        assert caught.value.reason == "bad_signature"
    finally:
        await verifier.aclose()
