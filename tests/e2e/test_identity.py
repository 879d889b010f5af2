"""Identity end to end: the four services as processes, OAuth2 access tokens from a real OpenID provider on
loopback, two tenants side by side. Neither reads, lists, resumes, cancels or deletes the other's workflows or sees
its posts; calls without credentials or without the scope are refused; health needs nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from marketing.admin.v1 import admin_pb2, admin_pb2_grpc
from marketing.social.v1 import social_pb2, social_pb2_grpc
from marketing.supervisor.v1 import supervisor_pb2, supervisor_pb2_grpc

from common.auth.principal import SUBJECT_METADATA, TENANT_METADATA
from common.launcher import ServiceLauncher, check_health, free_port
from tests.e2e.conftest import grpcurl, launch
from tests.fakes.oidc import OidcProvider

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib.*")]
S = supervisor_pb2
AUDIENCE = "marketing-api"
ALL = "marketing.tasks.write marketing.tasks.read marketing.admin"
USERS = {
    "alice": {"tenant_id": "acme", "scope": "marketing.tasks.write marketing.tasks.read"},
    "bob": {"tenant_id": "globex", "scope": "marketing.tasks.write marketing.tasks.read"},
    "reader": {"tenant_id": "globex", "scope": "marketing.tasks.read"},
    "root": {"tenant_id": "platform", "scope": ALL},
}
CAMPAIGN = "Launch campaign for our vector database: research competitors, write a blog article, prepare LinkedIn posts"


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    with OidcProvider(USERS) as running:
        yield running


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, provider: OidcProvider) -> Iterator[ServiceLauncher]:
    launcher = launch(
        tmp_path_factory.mktemp("identity"),
        AUTH_DISABLED="false",
        AUTH_ISSUER=provider.issuer,
        AUTH_AUDIENCE=AUDIENCE,
        DATA_DIR=str(tmp_path_factory.mktemp("identity-data")),
    )
    yield launcher
    launcher.stop_all()


def bearer(provider: OidcProvider, user: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {provider.token(user, AUDIENCE)}"),)


def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code()  # type: ignore[no-any-return, attr-defined]


def test_two_tenants_side_by_side_never_reach_each_others_work(
    secured: ServiceLauncher, provider: OidcProvider
) -> None:
    alice, bob = bearer(provider, "alice"), bearer(provider, "bob")
    with grpc.insecure_channel(secured.processes["supervisor"].address) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        mine = stub.RunTask(S.RunTaskRequest(task=CAMPAIGN), metadata=alice, timeout=60).workflow
        theirs = stub.RunTask(S.RunTaskRequest(task=CAMPAIGN), metadata=bob, timeout=60).workflow
        assert mine.status == theirs.status == S.WORKFLOW_STATUS_COMPLETED, (mine.warnings, theirs.warnings)
        for method, request in (
            (stub.GetWorkflow, S.GetWorkflowRequest(workflow_id=mine.id)),
            (stub.ResumeWorkflow, S.ResumeWorkflowRequest(workflow_id=mine.id)),
            (stub.CancelWorkflow, S.CancelWorkflowRequest(workflow_id=mine.id)),
            (stub.DeleteWorkflow, S.DeleteWorkflowRequest(workflow_id=mine.id)),
        ):
            assert (
                code_of(lambda m=method, r=request: m(r, metadata=bob, timeout=10))
                == grpc.StatusCode.NOT_FOUND
            )
        listed = {
            w.id for w in stub.ListWorkflows(S.ListWorkflowsRequest(), metadata=bob, timeout=10).workflows
        }
        assert listed == {theirs.id}
        assert stub.GetWorkflow(
            S.GetWorkflowRequest(workflow_id=mine.id), metadata=alice, timeout=10
        ).workflow.id
    with grpc.insecure_channel(secured.processes["social"].address) as channel:
        social = social_pb2_grpc.SocialServiceStub(channel)

        def posts(tenant: str) -> list[str]:
            request = social_pb2.ListScheduledPostsRequest(workflow_id=mine.id)
            metadata = ((TENANT_METADATA, tenant), (SUBJECT_METADATA, "e2e"))
            return [p.id for p in social.ListScheduledPosts(request, metadata=metadata, timeout=10).posts]

        assert posts("acme"), "the campaign scheduled acme's posts"
        assert posts("globex") == [], "globex never sees acme's posts"


def test_credentials_and_scopes_are_checked_at_the_edge(
    secured: ServiceLauncher, provider: OidcProvider
) -> None:
    address = secured.processes["supervisor"].address
    assert check_health(address) == "SERVING", "health needs no credentials"
    with grpc.insecure_channel(address) as channel:
        stub = supervisor_pb2_grpc.SupervisorServiceStub(channel)
        request = S.ListWorkflowsRequest()
        assert code_of(lambda: stub.ListWorkflows(request, timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
        forged = (("authorization", "Bearer not.a.token"),)
        assert code_of(lambda: stub.ListWorkflows(request, metadata=forged, timeout=10)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        reader = bearer(provider, "reader")
        run = S.RunTaskRequest(task="Research the market")
        assert (
            code_of(lambda: stub.RunTask(run, metadata=reader, timeout=10))
            == grpc.StatusCode.PERMISSION_DENIED
        )
        assert stub.ListWorkflows(request, metadata=reader, timeout=10) is not None
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        listing = admin_pb2.ListTenantsRequest()
        assert code_of(lambda: admin.ListTenants(listing, metadata=reader, timeout=10)) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        root = bearer(provider, "root")
        created = admin.CreateApiKey(
            admin_pb2.CreateApiKeyRequest(
                tenant_id="platform", display_name="ops", scopes=["marketing.admin"]
            ),
            metadata=root,
            timeout=10,
        )
        keyed = (("authorization", f"Bearer {created.key}"),)
        assert [t.id for t in admin.ListTenants(listing, metadata=keyed, timeout=10).tenants] == ["platform"]
    listed = grpcurl("-plaintext", address, "list")
    assert listed.returncode == 0 and "marketing.admin.v1.AdminService" in listed.stdout, "reflection is open"


def test_a_team_port_refuses_calls_without_a_tenant(secured: ServiceLauncher, tmp_path: Path) -> None:
    with grpc.insecure_channel(secured.processes["social"].address) as channel:
        social = social_pb2_grpc.SocialServiceStub(channel)
        request = social_pb2.ListScheduledPostsRequest(workflow_id="x")
        assert (
            code_of(lambda: social.ListScheduledPosts(request, timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
        )


def _supervisor(tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "TLS_"))}
    variables = {
        "BIND_HOST": "0.0.0.0",
        "METRICS_PORT": "0",
        "DATA_DIR": str(tmp_path),
        "AUTH_DISABLED": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "supervisor_service"],
        env={**base, **variables, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_beyond_loopback_the_supervisor_starts_only_when_it_authenticates_its_callers(tmp_path: Path) -> None:
    """Secure by default: no issuer, no API key and no TLS: exit 2 naming the variables; AUTH_DISABLED beyond
    loopback: refused; with an API key in its records it serves (and still checks every call)."""
    port = str(free_port())
    refused = _supervisor(tmp_path, SUPERVISOR_PORT=port)
    assert refused.wait(60) == 2
    stderr = refused.stderr.read() if refused.stderr else ""
    assert all(
        name in stderr for name in ("BIND_HOST=0.0.0.0", "TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE")
    )
    disabled = _supervisor(tmp_path, SUPERVISOR_PORT=port, AUTH_DISABLED="true")
    assert disabled.wait(60) == 2 and "AUTH_DISABLED=true" in (
        disabled.stderr.read() if disabled.stderr else ""
    )
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "supervisor_service.admin_cli",
            "create-api-key",
            "platform",
            "--scope",
            "marketing.admin",
        ],
        env={**os.environ, "DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = cli.stdout.strip()
    served = _supervisor(tmp_path, SUPERVISOR_PORT=port)
    try:
        deadline = time.monotonic() + 60
        while check_health(f"127.0.0.1:{port}") != "SERVING":
            assert served.poll() is None and time.monotonic() < deadline, (
                served.stderr.read() if served.stderr else ""
            )
            time.sleep(0.2)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            listing = admin_pb2.ListTenantsRequest()
            assert code_of(lambda: admin.ListTenants(listing, timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
            keyed = (("authorization", f"Bearer {key}"),)
            assert [t.id for t in admin.ListTenants(listing, metadata=keyed, timeout=10).tenants] == [
                "platform"
            ]
    finally:
        served.terminate()
        served.wait(30)
