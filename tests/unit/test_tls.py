"""Service TLS without servers: loopback checks, the certificate generator, the TLS settings, the start-up rule, the
loopback-only interceptor (with a fake servicer context) and the CLI's TLS flags."""

from __future__ import annotations

import datetime
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common import tls_certs
from common.agents.team_identity import TeamIdentityInterceptor
from common.config import Settings, load_settings
from common.errors import ConfigError
from common.teams import TEAMS
from common.tls import TlsFiles, check_bind, is_loopback_host, is_loopback_peer
from common.tls_certs import CertificateAuthority, default_names, leaf_names, write_bundle
from supervisor_service import cli

TLS_VARIABLES = ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No setting leaks in from the developer's or CI's environment."""
    names = [*Settings.model_fields, *(v for t in TEAMS for v in (t.port_variable, t.addr_variable))]
    for name in names:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    yield


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    folder = tmp_path_factory.mktemp("bundle")
    write_bundle(folder, leaf_names(default_names()))
    return TlsFiles(folder / "tls.crt", folder / "tls.key", folder / "ca.crt")


def environment_of(tls: TlsFiles) -> dict[str, str]:
    return dict(zip(TLS_VARIABLES, (str(tls.cert_file), str(tls.key_file), str(tls.ca_file)), strict=True))


def load_with(monkeypatch: pytest.MonkeyPatch, **variables: str) -> Settings:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return load_settings()


# --- Loopback ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
        ("LOCALHOST", True), ("::ffff:127.0.0.1", True), ("0.0.0.0", False), ("::", False), ("[::]", False),
        ("192.0.2.2", False), ("10.0.0.5", False), ("fd00::2", False), ("research", False), ("", False),
        ("localhost.example.com", False),
    ],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("peer", "loopback"),
    [
        ("ipv4:127.0.0.1:45828", True), ("ipv6:%5B::1%5D:48134", True), ("ipv6:[::1]:48134", True),
        ("unix:/tmp/socket", True), ("ipv4:192.0.2.2:36836", False), ("ipv6:%5Bfd00::2%5D:5000", False),
        ("ipv6:%5B::ffff:10.1.1.1%5D:5000", False), ("ipv4:0.0.0.0:1", False), ("", False), ("garbage", False),
    ],
)  # fmt: skip
def test_loopback_peers(peer: str, loopback: bool) -> None:
    assert is_loopback_peer(peer) is loopback


# --- The certificate generator -------------------------------------------------------------------------------


def test_the_leaf_names_every_service_and_loopback_and_serves_servers_and_clients() -> None:
    ca = CertificateAuthority.create()
    leaf = ca.issue(leaf_names(default_names()))
    names = leaf.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {
        *(service.name for service in TEAMS.services()),
        "marketing-agents",
        "localhost",
    }
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    usages = leaf.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not leaf.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf.certificate.verify_directly_issued_by(ca.certificate)
    with pytest.raises(ValueError, match="at least one name"):
        ca.issue([])


def test_the_command_line_writes_a_ca_and_a_shared_leaf_with_a_private_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "certs"
    assert tls_certs.main(["--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
    assert stat.S_IMODE((out / "tls.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "ca.crt").stat().st_mode) == 0o644
    assert "wrote" in capsys.readouterr().out
    leaf = x509.load_pem_x509_certificate((out / "tls.crt").read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(default_names()) <= set(names.get_values_for_type(x509.DNSName))
    # The files are what the settings accept, as they are.
    settings = load_settings(
        tls_cert_file=out / "tls.crt", tls_key_file=out / "tls.key", tls_ca_file=out / "ca.crt"
    )
    assert settings.tls_cert_file == out / "tls.crt"


def test_keep_valid_keeps_usable_files_and_replaces_those_missing_a_name(tmp_path: Path) -> None:
    assert tls_certs.main(["--out", str(tmp_path), "--names", "supervisor,research"]) == 0
    first = (tmp_path / "ca.crt").read_bytes()
    assert tls_certs.main(["--out", str(tmp_path), "--names", "supervisor,research", "--keep-valid"]) == 0
    assert (tmp_path / "ca.crt").read_bytes() == first, "a re-run keeps the certificates in use"
    assert tls_certs.main(["--out", str(tmp_path), "--names", "supervisor,email", "--keep-valid"]) == 0
    assert (tmp_path / "ca.crt").read_bytes() != first, "a new name needs a new certificate"
    (tmp_path / "tls.key").write_bytes(CertificateAuthority.create().key_pem)
    assert not tls_certs.bundle_is_usable(tmp_path, ["supervisor"]), "a key that is not the leaf's"


# --- Settings ------------------------------------------------------------------------------------------------


def test_loopback_is_the_default_bind_host_and_tls_is_off() -> None:
    settings = load_settings()
    assert settings.bind_host == "127.0.0.1"
    assert (settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file) == (None, None, None)


def test_the_three_files_and_a_server_name_load(monkeypatch: pytest.MonkeyPatch, bundle: TlsFiles) -> None:
    settings = load_with(monkeypatch, **environment_of(bundle), TLS_SERVER_NAME="marketing-agents")
    assert settings.tls_key_file == bundle.key_file and settings.tls_server_name == "marketing-agents"


@pytest.mark.parametrize("left_out", [("TLS_KEY_FILE",), ("TLS_CERT_FILE", "TLS_CA_FILE"), ("TLS_CA_FILE",)])
def test_a_partial_set_names_the_missing_variables(
    monkeypatch: pytest.MonkeyPatch, bundle: TlsFiles, left_out: tuple[str, ...]
) -> None:
    variables = {k: v for k, v in environment_of(bundle).items() if k not in left_out}
    with pytest.raises(ConfigError) as error:
        load_with(monkeypatch, **variables)
    message = str(error.value)
    assert f"{', '.join(left_out)} {'is' if len(left_out) == 1 else 'are'} missing" in message
    assert all(name in message for name in TLS_VARIABLES)


@pytest.mark.parametrize(
    ("variable", "content", "complaint"),
    [
        ("TLS_CERT_FILE", None, "cannot read"),
        ("TLS_CERT_FILE", b"not a certificate", "is not a PEM certificate chain"),
        ("TLS_KEY_FILE", "certificate", "is not a PEM private key"),
        ("TLS_CA_FILE", "key", "is not a PEM CA bundle"),
        ("TLS_CA_FILE", b"", "is not a PEM CA bundle"),
    ],
)
def test_a_bad_file_is_rejected_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    bundle: TlsFiles,
    variable: str,
    content: Any,
    complaint: str,
) -> None:
    """A missing file, or one that holds something else (a certificate where the key goes, a key as the CA)."""
    bad = tmp_path / "bad.pem"
    if isinstance(content, str):  # another file of the bundle
        content = {"certificate": bundle.cert_file, "key": bundle.key_file}[content].read_bytes()
    if content is not None:
        bad.write_bytes(content)
    variables = {**environment_of(bundle), variable: str(bad)}
    with pytest.raises(ConfigError, match=rf"{variable}='{bad}': .*{complaint}"):
        load_with(monkeypatch, **variables)


def test_a_key_that_is_not_the_certificates_is_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bundle: TlsFiles
) -> None:
    other_key = tmp_path / "other.key"
    other_key.write_bytes(CertificateAuthority.create().key_pem)
    with pytest.raises(
        ConfigError, match=r"TLS_KEY_FILE=.*is not the private key of the certificate in TLS_CERT_FILE"
    ):
        load_with(monkeypatch, **{**environment_of(bundle), "TLS_KEY_FILE": str(other_key)})


def test_an_expired_certificate_is_rejected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bundle: TlsFiles
) -> None:
    ca = CertificateAuthority.create()
    now = datetime.datetime.now(datetime.UTC)
    expired = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old")]))
        .issuer_name(ca.certificate.subject)
        .public_key(ca.key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=3))
        .not_valid_after(now - datetime.timedelta(days=1))
        .sign(ca.key, hashes.SHA256())
    )
    (tmp_path / "old.crt").write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ConfigError, match=r"TLS_CA_FILE=.*expired on"):
        load_with(monkeypatch, **{**environment_of(bundle), "TLS_CA_FILE": str(tmp_path / "old.crt")})
    with pytest.raises(ConfigError, match=r"TLS_CERT_FILE=.*expired on"):  # in a chain, one is enough
        chain = tmp_path / "chain.crt"
        chain.write_bytes(bundle.cert_file.read_bytes() + (tmp_path / "old.crt").read_bytes())
        load_with(monkeypatch, **{**environment_of(bundle), "TLS_CERT_FILE": str(chain)})
    # A CA bundle is usable while one of its certificates is.
    (tmp_path / "bundle.crt").write_bytes((tmp_path / "old.crt").read_bytes() + bundle.ca_file.read_bytes())
    monkeypatch.setenv("TLS_CERT_FILE", str(bundle.cert_file))
    settings = load_with(monkeypatch, TLS_CA_FILE=str(tmp_path / "bundle.crt"))
    assert settings.tls_ca_file == tmp_path / "bundle.crt"


def test_a_server_name_needs_tls_and_must_be_a_name(
    monkeypatch: pytest.MonkeyPatch, bundle: TlsFiles
) -> None:
    with pytest.raises(ConfigError, match="TLS_SERVER_NAME is set but TLS is off"):
        load_with(monkeypatch, TLS_SERVER_NAME="marketing-agents")
    with pytest.raises(ConfigError, match=r"TLS_SERVER_NAME='dns:///research:50052': .*must be a DNS name"):
        load_with(monkeypatch, **environment_of(bundle), TLS_SERVER_NAME="dns:///research:50052")


def test_blank_tls_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_with(monkeypatch, **dict.fromkeys((*TLS_VARIABLES, "TLS_SERVER_NAME"), ""))
    assert settings.tls_cert_file is None and settings.tls_server_name is None


# --- Secure by default ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.2", "research"])
def test_binding_beyond_loopback_needs_tls(host: str, bundle: TlsFiles) -> None:
    with pytest.raises(ConfigError) as error:
        check_bind(host, load_settings())
    assert all(name in str(error.value) for name in (f"BIND_HOST={host}", *TLS_VARIABLES))
    check_bind(host, load_settings(**tls_overrides(bundle)))  # with TLS: allowed
    check_bind("127.0.0.1", load_settings())  # loopback: allowed without


def test_a_server_that_authenticates_its_callers_may_bind_beyond_loopback_without_tls() -> None:
    """The supervisor with an OAuth2 issuer or API keys checks every caller: it may serve beyond loopback."""
    check_bind("0.0.0.0", load_settings(auth_disabled=False), authenticates_callers=True)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.2"])
def test_auth_disabled_is_refused_beyond_loopback_even_with_tls(host: str, bundle: TlsFiles) -> None:
    for settings in (
        load_settings(auth_disabled=True),
        load_settings(auth_disabled=True, **tls_overrides(bundle)),
    ):
        with pytest.raises(ConfigError) as error:
            check_bind(host, settings, authenticates_callers=True)
        assert "AUTH_DISABLED=true" in str(error.value) and f"BIND_HOST={host}" in str(error.value)
    check_bind("127.0.0.1", load_settings(auth_disabled=True))  # loopback: what make demo and make up do


def tls_overrides(tls: TlsFiles) -> dict[str, Path]:
    return {"tls_cert_file": tls.cert_file, "tls_key_file": tls.key_file, "tls_ca_file": tls.ca_file}


# --- The loopback-only interceptor, with a fake servicer context ---------------------------------------------


class Aborted(Exception):
    pass


@dataclass
class FakeContext:
    """What the interceptor uses of a grpc.aio.ServicerContext: the peer, and abort."""

    peer_address: str
    code: grpc.StatusCode | None = None
    details: str = ""

    def peer(self) -> str:
        return self.peer_address

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        self.code, self.details = code, details
        raise Aborted


@dataclass
class Details:
    method: str
    invocation_metadata: tuple[()] = ()


async def intercepted(method: str, stream: bool = False) -> grpc.RpcMethodHandler[Any, Any]:
    async def unary(request: str, context: Any) -> str:
        return f"answer to {request}"

    async def streaming(request: str, context: Any) -> Any:
        yield f"answer to {request}"

    async def continuation(details: Any) -> grpc.RpcMethodHandler[Any, Any]:
        if stream:
            return grpc.unary_stream_rpc_method_handler(streaming)
        return grpc.unary_unary_rpc_method_handler(unary)

    interceptor = TeamIdentityInterceptor(auth_disabled=True, loopback_only=True)
    handler = await interceptor.intercept_service(continuation, Details(method))  # type: ignore[arg-type]
    assert handler is not None
    return handler


async def test_a_call_from_beyond_loopback_is_refused_with_permission_denied() -> None:
    handler = await intercepted("/marketing.team.v1.TeamService/RunBrief")
    context = FakeContext("ipv4:192.0.2.2:5555")
    with pytest.raises(Aborted):
        await handler.unary_unary("brief", context)
    assert context.code is grpc.StatusCode.PERMISSION_DENIED
    assert "accepts calls only from loopback" in context.details and "192.0.2.2" in context.details
    assert "TLS_CERT_FILE" in context.details

    stream = await intercepted("/marketing.team.v1.TeamService/StreamBrief", stream=True)
    context = FakeContext("ipv6:%5Bfd00::2%5D:5555")
    with pytest.raises(Aborted):
        [item async for item in stream.unary_stream("brief", context)]
    assert context.code is grpc.StatusCode.PERMISSION_DENIED and "[fd00::2]" in context.details


async def test_loopback_calls_and_health_and_reflection_from_anywhere_pass() -> None:
    handler = await intercepted("/marketing.team.v1.TeamService/RunBrief")
    assert await handler.unary_unary("brief", FakeContext("ipv6:%5B::1%5D:5555")) == "answer to brief"
    for method in (
        "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ):
        exempt = await intercepted(method)
        context = FakeContext("ipv4:192.0.2.2:5555")
        assert await exempt.unary_unary("check", context) == "answer to check" and context.code is None


# --- The CLI's TLS flags -------------------------------------------------------------------------------------


def test_cli_tls_flags_go_together_and_are_checked(
    bundle: TlsFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["tools", "--cert", str(bundle.cert_file)])
    assert exit_.value.code == 2 and "--key, --cacert missing" in capsys.readouterr().err
    flags = [
        "--cert",
        str(bundle.cert_file),
        "--key",
        str(bundle.key_file),
        "--cacert",
        str(tmp_path / "nope"),
    ]
    with pytest.raises(SystemExit) as exit_:
        cli.main(["tools", *flags])
    assert exit_.value.code == 2 and f"--cacert {tmp_path / 'nope'}: cannot read" in capsys.readouterr().err
    flags[3] = str(bundle.cert_file)  # a certificate where the key goes
    flags[5] = str(bundle.ca_file)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["tools", *flags])
    assert (
        exit_.value.code == 2
        and "--key" in (err := capsys.readouterr().err)
        and "not a PEM private key" in err
    )


def test_cli_without_flags_reads_the_tls_settings(monkeypatch: pytest.MonkeyPatch, bundle: TlsFiles) -> None:
    parser = cli._parser()
    assert cli.client_tls(parser.parse_args(["tools"]), parser) is None
    for name, value in environment_of(bundle).items():
        monkeypatch.setenv(name, value)
    tls = cli.client_tls(parser.parse_args(["tools", "--server-name", "marketing-agents"]), parser)
    assert tls == TlsFiles(bundle.cert_file, bundle.key_file, bundle.ca_file, "marketing-agents")
    monkeypatch.delenv("TLS_CA_FILE")
    with pytest.raises(SystemExit) as exit_:
        cli.client_tls(parser.parse_args(["tools"]), parser)
    assert exit_.value.code == 2
