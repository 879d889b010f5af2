"""AdminService over a real in-process gRPC server, on SQLite and on PostgreSQL as a role bound by row-level
security: platform administrators, tenant administrators and other tenants; field masks; social credentials
(pushed first, stored encrypted, never returned or logged); API keys; the audit log.

A tiny interceptor binds the principal that a test names in call metadata, as the authentication interceptor does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
import structlog
from google.protobuf import field_mask_pb2, timestamp_pb2
from marketing.admin.v1 import admin_pb2, admin_pb2_grpc
from marketing.social.v1 import social_pb2
from marketing.tenant.v1 import tenant_pb2

from common.auth.api_keys import ApiKeyVerifier
from common.auth.principal import AuthMethod, Principal, Scope, acting_as, current_tenant
from common.interceptors import rewrap_handler
from common.secrets import new_key_line
from common.server import ErrorMappingInterceptor
from common.storage import Store
from supervisor_service.admin import AdminParts, build_admin
from tests.conftest import bad_request_fields, test_settings
from tests.integration.test_admin_store import open_records, raw

PRINCIPAL_METADATA = "x-test-principal"
ADMIN = frozenset({Scope.ADMIN.value})
PLATFORM = Principal("platform", "root", ADMIN, AuthMethod.JWT)
ACME_ADMIN = Principal("acme", "alice", ADMIN, AuthMethod.JWT)
GLOBEX_ADMIN = Principal("globex", "0123456789ab", ADMIN, AuthMethod.API_KEY)
ACME_WRITER = Principal("acme", "bob", frozenset({Scope.TASKS_WRITE.value}), AuthMethod.JWT)
X_TOKEN = "xtok-SECRET-4f1c2d9e"
LINKEDIN_TOKEN = "litok-SECRET-8a7b6c5d"
URN = "urn:li:organization:424242"
KNOWN_TOOLS = {"web_search", "draft_post", "schedule_posts", "search_knowledge_base"}


class BindPrincipal(grpc.aio.ServerInterceptor):
    """Binds the principal named in ``x-test-principal`` (JSON) for the call; none without it."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(details)
        encoded = dict(details.invocation_metadata or ()).get(PRINCIPAL_METADATA)
        if handler is None or encoded is None:
            return handler
        fields = json.loads(encoded)
        principal = Principal(
            fields["tenant"], fields["subject"], frozenset(fields["scopes"]), AuthMethod(fields["method"])
        )

        def wrap(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            async def run(request: Any, context: Any) -> Any:
                with acting_as(principal):
                    return await behaviour(request, context)

            return run

        return rewrap_handler(handler, wrap, wrap)


def as_(principal: Principal) -> tuple[tuple[str, str]]:
    """Call metadata that makes the test interceptor bind ``principal``."""
    fields = {
        "tenant": principal.tenant_id,
        "subject": principal.subject,
        "scopes": sorted(principal.scopes),
        "method": principal.method.value,
    }
    return ((PRINCIPAL_METADATA, json.dumps(fields)),)


@dataclass
class Admin:
    """A running AdminService, its store and what its callbacks saw."""

    stub: admin_pb2_grpc.AdminServiceStub
    parts: AdminParts
    records: Store
    pushed: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    erased: list[tuple[str, str]] = field(default_factory=list)
    push_error: Exception | None = None


@pytest.fixture(params=["sqlite", "postgres-rls"])
async def open_admin(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Admin]]]:
    """Starts AdminService servers (``with_key_file``: SECRETS_KEY_FILE set) on one database; stops them after."""
    stops: list[Callable[[], Awaitable[None]]] = []

    async def start(with_key_file: bool = True) -> Admin:
        records = await stack.enter_async_context(open_records(request.param, tmp_path))
        key_file = tmp_path / "keys.txt"
        key_file.write_text(new_key_line("k1") + "\n")
        settings = test_settings(auth_disabled=False, secrets_key_file=key_file if with_key_file else None)
        admin: Admin

        async def push(tenant_id: str, secrets: dict[str, str]) -> None:
            admin.pushed.append((tenant_id, current_tenant(), dict(secrets)))
            if admin.push_error is not None:
                raise admin.push_error

        async def erase(tenant_id: str) -> int:
            admin.erased.append((tenant_id, current_tenant()))
            return 3

        async def tools() -> set[str]:
            return KNOWN_TOOLS

        parts = await build_admin(
            settings, records.db, erase_tenant_data=erase, push_tenant_secrets=push, known_tools=tools
        )
        server = grpc.aio.server(interceptors=[BindPrincipal(), ErrorMappingInterceptor()])
        parts.registration.register(server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        stops.extend([channel.close, lambda: server.stop(0)])
        admin = Admin(admin_pb2_grpc.AdminServiceStub(channel), parts, records)
        return admin

    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        yield start
        for stop in reversed(stops):
            await stop()


@pytest.fixture
async def admin(open_admin: Callable[..., Awaitable[Admin]]) -> Admin:
    return await open_admin()


async def rejected(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def create(admin: Admin, tenant_id: str, **fields: Any) -> admin_pb2.Tenant:
    response = await admin.stub.CreateTenant(
        admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(id=tenant_id, **fields)), metadata=as_(PLATFORM)
    )
    return response.tenant


async def events(admin: Admin, tenant_id: str, principal: Principal = PLATFORM) -> list[admin_pb2.AuditEvent]:
    response = await admin.stub.ListAuditEvents(
        admin_pb2.ListAuditEventsRequest(tenant_id=tenant_id, page_size=100), metadata=as_(principal)
    )
    return list(response.audit_events)


async def test_platform_admins_create_list_and_delete_tenants(admin: Admin) -> None:
    created = await create(admin, "acme", display_name="Acme", retention_days=30)
    assert (created.id, created.display_name, created.retention_days) == ("acme", "Acme", 30)
    assert created.create_time.ToDatetime(UTC) > datetime.now(UTC) - timedelta(minutes=1)
    assert (await create(admin, "globex")).display_name == "globex", "the display name defaults to the id"
    error = await rejected(create(admin, "acme"))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS

    listed, token = [], ""
    while True:
        page = await admin.stub.ListTenants(
            admin_pb2.ListTenantsRequest(page_size=2, page_token=token), metadata=as_(PLATFORM)
        )
        listed += [t.id for t in page.tenants]
        token = page.next_page_token
        if not token:
            break
    assert listed == ["acme", "globex", "platform"], "the platform tenant exists from the start"

    key = await admin.stub.CreateApiKey(
        admin_pb2.CreateApiKeyRequest(tenant_id="acme", scopes=["marketing.tasks.write"]),
        metadata=as_(PLATFORM),
    )
    deleted = await admin.stub.DeleteTenant(
        admin_pb2.DeleteTenantRequest(tenant_id="acme"), metadata=as_(PLATFORM)
    )
    assert deleted.erased_workflows == 3
    assert admin.erased == [("acme", "acme")], "the erasure acts for the deleted tenant"
    assert await admin.parts.store.find_api_key(key.api_key.id) is None
    assert await raw(admin.records, "SELECT id FROM audit_events WHERE tenant_id = 'acme'") == []
    error = await rejected(
        admin.stub.GetTenant(admin_pb2.GetTenantRequest(tenant_id="acme"), metadata=as_(PLATFORM))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    [last, *_] = await events(admin, "platform")
    assert (last.action, last.resource, last.actor, dict(last.details)) == (
        "tenant.delete",
        "tenants/acme",
        "jwt:root",
        {"erased_workflows": "3"},
    )
    for tenant_id, code in (
        ("platform", grpc.StatusCode.FAILED_PRECONDITION),
        ("nobody", grpc.StatusCode.NOT_FOUND),
    ):
        error = await rejected(
            admin.stub.DeleteTenant(
                admin_pb2.DeleteTenantRequest(tenant_id=tenant_id), metadata=as_(PLATFORM)
            )
        )
        assert error.code() == code, tenant_id


async def test_a_tenant_admin_manages_only_its_own_tenant_and_others_answer_not_found(admin: Admin) -> None:
    await create(admin, "acme")
    await create(admin, "globex")
    theirs = await admin.stub.CreateApiKey(
        admin_pb2.CreateApiKeyRequest(tenant_id="globex", scopes=["marketing.admin"]),
        metadata=as_(GLOBEX_ADMIN),
    )
    mine = await admin.stub.GetTenant(admin_pb2.GetTenantRequest(tenant_id="acme"), metadata=as_(ACME_ADMIN))
    assert mine.tenant.id == "acme"

    def calls(tenant_id: str, key_id: str) -> list[Awaitable[Any]]:
        meta = as_(ACME_ADMIN)
        stub = admin.stub
        return [
            stub.GetTenant(admin_pb2.GetTenantRequest(tenant_id=tenant_id), metadata=meta),
            stub.UpdateTenant(
                admin_pb2.UpdateTenantRequest(
                    tenant=admin_pb2.Tenant(id=tenant_id, display_name="mine now"),
                    update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
                ),
                metadata=meta,
            ),
            stub.CreateApiKey(
                admin_pb2.CreateApiKeyRequest(tenant_id=tenant_id, scopes=["marketing.admin"]), metadata=meta
            ),
            stub.ListApiKeys(admin_pb2.ListApiKeysRequest(tenant_id=tenant_id), metadata=meta),
            stub.RevokeApiKey(
                admin_pb2.RevokeApiKeyRequest(tenant_id=tenant_id, api_key_id=key_id), metadata=meta
            ),
            stub.ListAuditEvents(admin_pb2.ListAuditEventsRequest(tenant_id=tenant_id), metadata=meta),
        ]

    for call, missing_call in zip(
        calls("globex", theirs.api_key.id), calls("nobody", theirs.api_key.id), strict=True
    ):
        other, missing = await rejected(call), await rejected(missing_call)
        assert other.code() == missing.code() == grpc.StatusCode.NOT_FOUND
        assert (other.details() or "").replace("globex", "nobody") == missing.details(), (
            "existence is not leaked"
        )
    # Its own tenant id with another tenant's key id: not found either.
    error = await rejected(
        admin.stub.RevokeApiKey(
            admin_pb2.RevokeApiKeyRequest(tenant_id="acme", api_key_id=theirs.api_key.id),
            metadata=as_(ACME_ADMIN),
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    found = await admin.parts.store.find_api_key(theirs.api_key.id)
    assert found is not None and found.revoked_at is None
    globex = await admin.parts.store.get_tenant("globex")
    assert globex is not None and globex.display_name == "globex"

    for call in (
        admin.stub.CreateTenant(
            admin_pb2.CreateTenantRequest(tenant=admin_pb2.Tenant(id="new")), metadata=as_(ACME_ADMIN)
        ),
        admin.stub.ListTenants(admin_pb2.ListTenantsRequest(), metadata=as_(ACME_ADMIN)),
        admin.stub.DeleteTenant(admin_pb2.DeleteTenantRequest(tenant_id="acme"), metadata=as_(ACME_ADMIN)),
        admin.stub.GetTenant(admin_pb2.GetTenantRequest(tenant_id="acme"), metadata=as_(ACME_WRITER)),
    ):
        assert (await rejected(call)).code() == grpc.StatusCode.PERMISSION_DENIED
    error = await rejected(admin.stub.GetTenant(admin_pb2.GetTenantRequest(tenant_id="acme")))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def profile() -> tenant_pb2.TenantProfile:
    return tenant_pb2.TenantProfile(
        brand=tenant_pb2.BrandProfile(voice="plain", banned_phrases=["synergy"], default_hashtags=["#acme"]),
        enabled_platforms=[social_pb2.PLATFORM_X],
        time_zone="UTC",
        posting_windows=[tenant_pb2.PostingWindow(weekdays=[1, 2], start_hour=9, end_hour=17)],
        enabled_tools=["web_search"],
        knowledge_documents=[tenant_pb2.KnowledgeDocument(id="faq.md", title="FAQ", body="Answers.")],
    )


async def update(admin: Admin, tenant: admin_pb2.Tenant, *paths: str) -> admin_pb2.Tenant:
    response = await admin.stub.UpdateTenant(
        admin_pb2.UpdateTenantRequest(tenant=tenant, update_mask=field_mask_pb2.FieldMask(paths=list(paths))),
        metadata=as_(ACME_ADMIN),
    )
    return response.tenant


async def test_update_tenant_changes_only_the_fields_in_its_mask(admin: Admin) -> None:
    await create(admin, "acme", display_name="Acme", profile=profile(), retention_days=7)
    ignored = tenant_pb2.TenantProfile(time_zone="Europe/Berlin", brand=tenant_pb2.BrandProfile(voice="loud"))
    after = await update(
        admin, admin_pb2.Tenant(id="acme", display_name="ignored", profile=ignored), "profile.time_zone"
    )
    expected = profile()
    expected.time_zone = "Europe/Berlin"
    assert (after.display_name, after.profile, after.retention_days) == ("Acme", expected, 7)

    after = await update(
        admin, admin_pb2.Tenant(id="acme"), "profile.brand"
    )  # absent in the request: cleared
    assert not after.profile.HasField("brand") and after.profile.enabled_tools == ["web_search"]
    after = await update(admin, admin_pb2.Tenant(id="acme", display_name="ACME"))  # no mask: the fields set
    assert (after.display_name, after.retention_days, after.profile.time_zone) == ("ACME", 7, "Europe/Berlin")
    after = await update(
        admin, admin_pb2.Tenant(id="acme", display_name="Acme 2"), "*"
    )  # all but credentials
    assert (after.display_name, after.retention_days, after.profile) == (
        "Acme 2",
        0,
        tenant_pb2.TenantProfile(),
    )

    paths = [
        "create_time",
        "profile.nope",
        "social_credentials_status",
        "id",
        "display_name.x",
        "profile.posting_windows.start_hour",
    ]
    error = await rejected(update(admin, admin_pb2.Tenant(id="acme"), *paths))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad_request_fields(error)) == {f"update_mask.paths[{i}]" for i in range(len(paths))}
    error = await rejected(update(admin, admin_pb2.Tenant(id="acme")))
    assert bad_request_fields(error).keys() == {"update_mask"}
    updates = [e for e in await events(admin, "acme", ACME_ADMIN) if e.action == "tenant.update"]
    assert [dict(e.details) for e in updates] == [
        {"paths": "display_name,profile,retention_days"},
        {"paths": "display_name"},
        {"paths": "profile.brand"},
        {"paths": "profile.time_zone"},
    ]
    assert {e.actor for e in updates} == {"jwt:alice"}


async def test_a_tenant_profile_is_validated_field_by_field(admin: Admin) -> None:
    bad = tenant_pb2.TenantProfile(
        brand=tenant_pb2.BrandProfile(voice="a\x00b", default_hashtags=["two words"]),
        enabled_platforms=[social_pb2.PLATFORM_X, 99, social_pb2.PLATFORM_X],  # type: ignore[list-item]
        time_zone="Mars/Olympus_Mons",
        posting_windows=[tenant_pb2.PostingWindow(weekdays=[0, 3, 3], start_hour=18, end_hour=25)],
        models=tenant_pb2.ModelChoices(router_model="gpt 4o"),
        enabled_tools=["web_search", "launch_rockets", "Bad-Name"],
        knowledge_documents=[
            tenant_pb2.KnowledgeDocument(id="a", body="x"),
            tenant_pb2.KnowledgeDocument(id="a", body="y"),
            tenant_pb2.KnowledgeDocument(id="../etc/passwd", body="z"),
            tenant_pb2.KnowledgeDocument(id="empty", body=""),
        ],
    )
    error = await rejected(create(admin, "Not_An_Id", profile=bad, retention_days=-1))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    p = "tenant.profile"
    assert set(bad_request_fields(error)) == {
        "tenant.id",
        "tenant.retention_days",
        f"{p}.brand.voice",
        f"{p}.brand.default_hashtags[0]",
        f"{p}.enabled_platforms[1]",
        f"{p}.enabled_platforms[2]",
        f"{p}.time_zone",
        f"{p}.posting_windows[0].weekdays[0]",
        f"{p}.posting_windows[0].weekdays[2]",
        f"{p}.posting_windows[0].end_hour",
        f"{p}.models.router_model",
        f"{p}.enabled_tools[1]",
        f"{p}.enabled_tools[2]",
        f"{p}.knowledge_documents[1].id",
        f"{p}.knowledge_documents[2].id",
        f"{p}.knowledge_documents[3].body",
    }
    await create(admin, "acme")
    big = "x" * 600_000
    documents = [tenant_pb2.KnowledgeDocument(id=f"d{i}", body=big) for i in range(2)]
    error = await rejected(
        update(
            admin,
            admin_pb2.Tenant(id="acme", profile=tenant_pb2.TenantProfile(knowledge_documents=documents)),
            "profile.knowledge_documents",
        )
    )
    assert bad_request_fields(error).keys() == {f"{p}.knowledge_documents"}
    many = [tenant_pb2.KnowledgeDocument(id=f"d{i}", body="x") for i in range(51)]
    error = await rejected(
        update(
            admin,
            admin_pb2.Tenant(id="acme", profile=tenant_pb2.TenantProfile(knowledge_documents=many)),
            "profile",
        )
    )
    assert "at most 50 documents" in bad_request_fields(error)[f"{p}.knowledge_documents"]


def credentials(**values: str) -> admin_pb2.SocialCredentials:
    return admin_pb2.SocialCredentials(**values)


async def test_social_credentials_are_pushed_stored_encrypted_and_never_returned_or_logged(
    admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    await create(admin, "acme")
    full = credentials(x_bearer_token=X_TOKEN, linkedin_access_token=LINKEDIN_TOKEN, linkedin_author_urn=URN)
    answers: list[Any] = []
    with structlog.testing.capture_logs() as logs, caplog.at_level(logging.DEBUG):
        answers.append(
            await update(admin, admin_pb2.Tenant(id="acme", social_credentials=full), "social_credentials")
        )
        status = answers[-1].social_credentials_status
        assert (status.x_configured, status.linkedin_configured) == (True, True)
        assert admin.pushed == [
            (
                "acme",
                "acme",
                {
                    "x_bearer_token": X_TOKEN,
                    "linkedin_access_token": LINKEDIN_TOKEN,
                    "linkedin_author_urn": URN,
                },
            )
        ]
        # A partial change keeps the others, and the team gets the complete set (an empty value deletes).
        answers.append(
            await update(
                admin,
                admin_pb2.Tenant(id="acme", social_credentials=credentials()),
                "social_credentials.x_bearer_token",
            )
        )
        status = answers[-1].social_credentials_status
        assert (status.x_configured, status.linkedin_configured) == (False, True)
        assert admin.pushed[-1][2] == {
            "x_bearer_token": "",
            "linkedin_access_token": LINKEDIN_TOKEN,
            "linkedin_author_urn": URN,
        }
        error = await rejected(
            update(
                admin,
                admin_pb2.Tenant(id="acme", social_credentials=credentials(linkedin_author_urn=X_TOKEN)),
                "social_credentials",
            )
        )
        assert bad_request_fields(error).keys() == {"tenant.social_credentials.linkedin_author_urn"}
        answers.append(
            await admin.stub.GetTenant(admin_pb2.GetTenantRequest(tenant_id="acme"), metadata=as_(ACME_ADMIN))
        )
        answers.append(await admin.stub.ListTenants(admin_pb2.ListTenantsRequest(), metadata=as_(PLATFORM)))
        answers.append(await events(admin, "acme"))
        answers.append(error.details())
    assert await admin.parts.store.tenant_secrets("acme") == {
        "linkedin_access_token": LINKEDIN_TOKEN,
        "linkedin_author_urn": URN,
    }
    [row] = await raw(admin.records, "SELECT secrets FROM tenants WHERE id = 'acme'")
    assert row["secrets"].startswith("v1.k1.")
    seen = [repr(a) for a in answers] + [repr(e) for e in logs] + [r.getMessage() for r in caplog.records]
    seen.append(repr(await raw(admin.records, "SELECT * FROM audit_events")))
    for secret in (X_TOKEN, LINKEDIN_TOKEN, "SECRET"):
        assert not [text for text in seen if secret in text], secret
    assert any(e.get("event") == "tenant_updated" for e in logs)


class TeamRefusal(Exception):
    """What a team client raises when the team answers INVALID_ARGUMENT (``TeamCallError`` carries ``code``)."""

    code = "INVALID_ARGUMENT"


async def test_a_failed_push_leaves_the_tenant_unchanged(admin: Admin) -> None:
    await create(admin, "acme", social_credentials=credentials(x_bearer_token=X_TOKEN))
    before = await admin.parts.store.get_tenant("acme")
    admin.push_error = ConnectionError("team down")
    error = await rejected(
        update(
            admin,
            admin_pb2.Tenant(
                id="acme", display_name="Changed", social_credentials=credentials(x_bearer_token="new-token")
            ),
            "display_name",
            "social_credentials",
        )
    )
    assert error.code() == grpc.StatusCode.UNAVAILABLE and "nothing was changed" in (error.details() or "")
    admin.push_error = TeamRefusal()
    error = await rejected(
        update(admin, admin_pb2.Tenant(id="acme", social_credentials=credentials()), "social_credentials")
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "refused" in (error.details() or "")
    assert await admin.parts.store.get_tenant("acme") == before
    assert await admin.parts.store.tenant_secrets("acme") == {"x_bearer_token": X_TOKEN}
    assert [e.action for e in await events(admin, "acme")] == ["tenant.create"]


async def test_credentials_without_a_key_file_are_refused_naming_secrets_key_file(
    open_admin: Callable[..., Awaitable[Admin]],
) -> None:
    admin = await open_admin(with_key_file=False)
    await create(admin, "acme")
    for call in (
        update(
            admin,
            admin_pb2.Tenant(id="acme", social_credentials=credentials(x_bearer_token=X_TOKEN)),
            "social_credentials",
        ),
        create(admin, "globex", social_credentials=credentials(x_bearer_token=X_TOKEN)),
    ):
        error = await rejected(call)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "SECRETS_KEY_FILE" in (
            error.details() or ""
        )
    assert admin.pushed == [] and await admin.parts.store.get_tenant("globex") is None
    assert (
        await update(admin, admin_pb2.Tenant(id="acme", display_name="Fine"), "display_name")
    ).display_name == "Fine"


async def test_api_keys_are_shown_once_listed_newest_first_and_revoked(admin: Admin) -> None:
    await create(admin, "acme")
    past = timestamp_pb2.Timestamp()
    past.FromDatetime(datetime.now(UTC) - timedelta(minutes=1))
    error = await rejected(
        admin.stub.CreateApiKey(
            admin_pb2.CreateApiKeyRequest(
                tenant_id="ACME", scopes=["marketing.admin", "root"], expire_time=past
            ),
            metadata=as_(ACME_ADMIN),
        )
    )
    assert set(bad_request_fields(error)) == {"tenant_id", "scopes[1]", "expire_time"}
    error = await rejected(
        admin.stub.CreateApiKey(admin_pb2.CreateApiKeyRequest(tenant_id="acme"), metadata=as_(ACME_ADMIN))
    )
    assert set(bad_request_fields(error)) == {"scopes"}

    future = timestamp_pb2.Timestamp()
    future.FromDatetime(datetime.now(UTC) + timedelta(days=30))
    keys = []
    for n in range(3):
        created = await admin.stub.CreateApiKey(
            admin_pb2.CreateApiKeyRequest(
                tenant_id="acme", display_name=f"ci {n}", scopes=["marketing.tasks.read"], expire_time=future
            ),
            metadata=as_(ACME_ADMIN),
        )
        assert created.key.startswith(f"mka_{created.api_key.id}_") and created.api_key.expire_time == future
        keys.append(created)
    principal = await ApiKeyVerifier(admin.parts.store).verify(keys[0].key)
    assert (principal.tenant_id, principal.scopes) == ("acme", {"marketing.tasks.read"})

    listed, token = [], ""
    while True:
        page = await admin.stub.ListApiKeys(
            admin_pb2.ListApiKeysRequest(tenant_id="acme", page_size=2, page_token=token),
            metadata=as_(ACME_ADMIN),
        )
        listed += list(page.api_keys)
        token = page.next_page_token
        if not token:
            break
    assert [k.id for k in listed] == [k.api_key.id for k in reversed(keys)]
    assert listed[-1].HasField("last_use_time") and not listed[0].HasField("last_use_time")
    assert not [k for k in keys if k.key in repr(listed)]

    revoked = await admin.stub.RevokeApiKey(
        admin_pb2.RevokeApiKeyRequest(tenant_id="acme", api_key_id=f"mka_{keys[1].api_key.id}"),
        metadata=as_(ACME_ADMIN),
    )
    assert revoked.api_key.HasField("revoke_time")
    for key_id, code in (("xyz", grpc.StatusCode.INVALID_ARGUMENT), ("0" * 12, grpc.StatusCode.NOT_FOUND)):
        error = await rejected(
            admin.stub.RevokeApiKey(
                admin_pb2.RevokeApiKeyRequest(tenant_id="acme", api_key_id=key_id), metadata=as_(ACME_ADMIN)
            )
        )
        assert error.code() == code
    recorded = await events(admin, "acme", ACME_ADMIN)
    assert [(e.action, e.resource, e.actor) for e in recorded[:2]] == [
        ("api_key.revoke", f"api_keys/{keys[1].api_key.id}", "jwt:alice"),
        ("api_key.create", f"api_keys/{keys[2].api_key.id}", "jwt:alice"),
    ]
    assert recorded[1].details["scopes"] == "marketing.tasks.read"

    page = await admin.stub.ListAuditEvents(
        admin_pb2.ListAuditEventsRequest(tenant_id="acme", page_size=2), metadata=as_(ACME_ADMIN)
    )
    assert page.next_page_token and len(page.audit_events) == 2
    error = await rejected(
        admin.stub.ListAuditEvents(
            admin_pb2.ListAuditEventsRequest(tenant_id="platform", page_token=page.next_page_token),
            metadata=as_(PLATFORM),
        )
    )
    assert bad_request_fields(error).keys() == {"page_token"}
