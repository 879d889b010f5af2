"""Authenticator (authorization header -> principal) and the method -> scope table helper."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from marketing.admin.v1 import admin_pb2
from marketing.supervisor.v1 import supervisor_pb2

from common.auth.authenticator import Authenticator, bearer_credential
from common.auth.interceptor import required_scopes_for
from common.auth.jwt_tokens import JwtVerifier
from common.auth.principal import ANONYMOUS, AuthMethod, Scope
from common.config import load_settings
from common.errors import ConfigError, Unauthenticated
from tests.fakes.api_keys import InMemoryApiKeys
from tests.fakes.oidc import FakeIssuer, claims_for, rsa_key

AUDIENCE = "marketing-api"
KEY = rsa_key("k1")
SUPERVISOR = supervisor_pb2.DESCRIPTOR.services_by_name["SupervisorService"]
ADMIN = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]


@pytest.fixture(scope="module")
def issuer() -> Iterator[FakeIssuer]:
    with FakeIssuer([KEY]) as fake:
        yield fake


@pytest.fixture
def store() -> InMemoryApiKeys:
    return InMemoryApiKeys()


@pytest.fixture
async def authenticator(issuer: FakeIssuer, store: InMemoryApiKeys) -> AsyncIterator[Authenticator]:
    authenticator = Authenticator(JwtVerifier(AUDIENCE, issuer=issuer.issuer), store)
    yield authenticator
    await authenticator.aclose()


async def reason(authenticator: Authenticator, authorization: str | None) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await authenticator.authenticate(authorization)
    return caught.value.reason


async def test_bearer_api_keys_and_tokens_reach_their_verifiers(
    authenticator: Authenticator, issuer: FakeIssuer, store: InMemoryApiKeys
) -> None:
    key = store.create("globex", {Scope.ADMIN.value})
    by_key = await authenticator.authenticate(f"Bearer {key}")
    assert (by_key.tenant_id, by_key.method) == ("globex", AuthMethod.API_KEY)
    token = KEY.sign(claims_for(issuer.issuer, AUDIENCE, tenant="acme"))
    by_token = await authenticator.authenticate(f"bearer {token}")  # the scheme is case-insensitive
    assert (by_token.tenant_id, by_token.method) == ("acme", AuthMethod.JWT)


@pytest.mark.parametrize(
    "header", [None, "", "   ", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b", "Token abc", "mka_x"]
)
async def test_missing_or_malformed_headers_are_missing_credentials(
    authenticator: Authenticator, header: str | None
) -> None:
    assert await reason(authenticator, header) == "missing_credentials"


async def test_credentials_the_server_does_not_take_are_refused(store: InMemoryApiKeys) -> None:
    only_keys = Authenticator(None, store)
    assert await reason(only_keys, "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig") == "unsupported_credentials"
    only_tokens = Authenticator(None, None)
    assert await reason(only_tokens, f"Bearer {store.create('acme', set())}") == "unsupported_credentials"


async def test_an_api_key_lookalike_is_never_tried_as_a_token(authenticator: Authenticator) -> None:
    assert await reason(authenticator, "Bearer mka_123") == "malformed_api_key"


async def test_disabled_authentication_is_the_anonymous_default_tenant(store: InMemoryApiKeys) -> None:
    disabled = Authenticator(None, store, disabled=True)
    assert await disabled.authenticate(None) is ANONYMOUS
    assert await disabled.authenticate("Bearer whatever") is ANONYMOUS
    assert ANONYMOUS.tenant_id == "default" and ANONYMOUS.method is AuthMethod.DISABLED


async def test_from_settings(store: InMemoryApiKeys) -> None:
    plain = Authenticator.from_settings(load_settings(), store)
    assert plain.jwt is None and plain.api_keys is not None and not plain.disabled
    disabled = Authenticator.from_settings(load_settings(auth_disabled=True), None)
    assert disabled.disabled and disabled.api_keys is None
    with_issuer = Authenticator.from_settings(
        load_settings(auth_issuer="https://id.example", auth_audience=AUDIENCE), store
    )
    assert with_issuer.jwt is not None and with_issuer.jwt.audience == AUDIENCE
    await with_issuer.aclose()


def test_bearer_credential() -> None:
    assert bearer_credential("Bearer abc") == "abc"
    assert bearer_credential("  BEARER   abc  ") == "abc"


# --- the method -> scope table ------------------------------------------------------------------------------------

PLAN_TABLE = {
    "RunTask": Scope.TASKS_WRITE,
    "StreamTask": Scope.TASKS_WRITE,
    "ResumeWorkflow": Scope.TASKS_WRITE,
    "CancelWorkflow": Scope.TASKS_WRITE,
    "DeleteWorkflow": Scope.TASKS_WRITE,
    "GetWorkflow": Scope.TASKS_READ,
    "ListWorkflows": Scope.TASKS_READ,
    "ListTools": Scope.TASKS_READ,
    "SubmitTask": Scope.TASKS_WRITE,
    "WatchWorkflow": Scope.TASKS_READ,
    "ListDeadLetters": Scope.ADMIN,
    "RequeueDeadLetter": Scope.ADMIN,
}


def test_the_plans_table_covers_the_supervisor_and_keys_are_full_method_names() -> None:
    table = required_scopes_for(SUPERVISOR, PLAN_TABLE)
    assert table["/marketing.supervisor.v1.SupervisorService/RunTask"] is Scope.TASKS_WRITE
    assert table["/marketing.supervisor.v1.SupervisorService/ListTools"] is Scope.TASKS_READ
    assert len(table) == len(SUPERVISOR.methods)


def test_a_whole_service_can_take_a_default_scope() -> None:
    table = required_scopes_for(ADMIN, {}, default=Scope.ADMIN)
    assert set(table.values()) == {Scope.ADMIN}
    assert "/marketing.admin.v1.AdminService/CreateApiKey" in table


def test_a_method_without_a_scope_fails_at_start_up() -> None:
    incomplete = {name: scope for name, scope in PLAN_TABLE.items() if name != "DeleteWorkflow"}
    with pytest.raises(ConfigError, match="DeleteWorkflow"):
        required_scopes_for(SUPERVISOR, incomplete)


def test_a_table_naming_a_method_the_service_lacks_fails_at_start_up() -> None:
    with pytest.raises(ConfigError, match="RunTsak"):
        required_scopes_for(SUPERVISOR, {**PLAN_TABLE, "RunTsak": Scope.TASKS_WRITE})
