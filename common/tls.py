"""Mutual TLS between the services, and the loopback rule when there is none.

With ``TLS_CERT_FILE``, ``TLS_KEY_FILE`` and ``TLS_CA_FILE`` set, every server listens with TLS and requires a
client certificate signed by the CA (``require_client_auth``), and every client (the supervisor's team channels, the
health check, the CLI) presents its certificate and verifies the server's against the CA, checking the address's
host, or ``TLS_SERVER_NAME`` when set, against the certificate's names. Without them a server may only bind loopback
(``check_bind`` refuses anything else at start-up), and the team services refuse calls from any peer that is not
loopback (``refuse_unless_loopback``, in the team services' identity interceptor).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import grpc
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from common.errors import ConfigError
from common.logging import get_logger

if TYPE_CHECKING:
    from common.config import Settings

log = get_logger(__name__)

TLS_VARIABLES = ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE")
LOOPBACK_HOST_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


# --- Loopback ------------------------------------------------------------------------------------------------


def is_loopback_host(host: str) -> bool:
    """True for a host that can only be reached from this machine: ``localhost``, 127.0.0.0/8, ``::1`` (also in
    brackets, or IPv4-mapped). ``0.0.0.0``, ``::``, other names and other addresses are not loopback."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_HOST_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_loopback_peer(peer: str) -> bool:
    """True when a gRPC peer (``context.peer()``: ``ipv4:127.0.0.1:5555``, ``ipv6:%5B::1%5D:5555``,
    ``unix:/path``) is on this machine. A Unix socket is local by nature; anything unparsable is not loopback."""
    scheme, _, rest = unquote(peer).partition(":")
    if scheme in ("unix", "unix-abstract"):
        return True
    if scheme not in ("ipv4", "ipv6") or ":" not in rest:
        return False
    return is_loopback_host(rest.rsplit(":", 1)[0])


def beyond_loopback_message(host: str) -> str:
    """Why a server bound to ``host`` without TLS does not start."""
    return (
        f"refusing to serve beyond loopback without TLS: BIND_HOST={host} is not a loopback address and "
        "TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE are not set. Set all three (python -m common.tls_certs "
        "--out DIR writes a throwaway set) or bind loopback (BIND_HOST=127.0.0.1)"
    )


def check_bind(host: str, settings: Settings, authenticates_callers: bool = False) -> None:
    """Secure by default: a server may bind beyond loopback only with TLS configured, or, for the supervisor, when
    it authenticates its callers (an OAuth2 issuer or API keys); ``AUTH_DISABLED=true`` only on loopback.

    Raises:
        ConfigError: The host is not loopback and the server would serve anyone reaching it; the message names
            ``BIND_HOST`` and the variables that fix it.
    """
    if is_loopback_host(host):
        return
    if settings.auth_disabled:
        raise ConfigError(
            f"refusing AUTH_DISABLED=true beyond loopback: BIND_HOST={host} is not a loopback address. "
            "AUTH_DISABLED=true is accepted only when every server binds loopback (BIND_HOST=127.0.0.1)"
        )
    if tls_files(settings) is None and not authenticates_callers:
        raise ConfigError(beyond_loopback_message(host))


# --- Certificate files ---------------------------------------------------------------------------------------


def check_certificates(data: bytes, bundle: bool = False) -> list[x509.Certificate]:
    """The PEM certificates in ``data``: a certificate chain (``bundle=False``), every certificate of which must be
    within its validity, or a CA bundle, at least one certificate of which must be.

    Raises:
        ValueError: With a message saying what is wrong.
    """
    what = "CA bundle" if bundle else "certificate chain"
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ValueError(f"is not a PEM {what} (no readable BEGIN CERTIFICATE block)") from None
    now = datetime.datetime.now(datetime.UTC)
    expired = [c for c in certificates if c.not_valid_after_utc < now]
    if expired and (not bundle or len(expired) == len(certificates)):
        subject, end = expired[0].subject.rfc4514_string(), expired[0].not_valid_after_utc
        raise ValueError(f"holds a certificate ({subject}) that expired on {end}")
    return certificates


def check_private_key(data: bytes) -> None:
    """An unencrypted PEM private key.

    Raises:
        ValueError: It is not one (or it is encrypted: gRPC cannot use a key that needs a password).
    """
    try:
        serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValueError(
            "is an encrypted private key; gRPC needs it unencrypted (restrict the file instead)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("is not a PEM private key (no readable BEGIN PRIVATE KEY block)") from None


def check_key_matches(
    certificate_chain: bytes, private_key: bytes, cert_label: str = "TLS_CERT_FILE"
) -> None:
    """The key belongs to the first certificate of the chain.

    Raises:
        ValueError: It does not.
    """
    certificate = x509.load_pem_x509_certificates(certificate_chain)[0]
    key = serialization.load_pem_private_key(private_key, password=None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        raise ValueError(f"is not the private key of the certificate in {cert_label}")


def check_files(
    cert_file: Path, key_file: Path, ca_file: Path, labels: Sequence[str] = TLS_VARIABLES
) -> None:
    """The checks the settings make, for files named another way (the CLI's flags): each file readable and of its
    kind, the key the certificate's.

    Raises:
        ValueError: The message starts with the label of the file at fault.
    """
    contents = []
    for label, path in zip(labels, (cert_file, key_file, ca_file), strict=True):
        try:
            data = path.read_bytes()
            if label == labels[1]:
                check_private_key(data)
            else:
                check_certificates(data, bundle=label == labels[2])
        except OSError as exc:
            raise ValueError(f"{label} {path}: cannot read it ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise ValueError(f"{label} {path}: {exc}") from None
        contents.append(data)
    try:
        check_key_matches(contents[0], contents[1], labels[0])
    except ValueError as exc:
        raise ValueError(f"{labels[1]} {key_file}: {exc}") from None


@dataclass(frozen=True)
class TlsFiles:
    """A service's certificate chain, its private key, the CA bundle it trusts, and the name it expects in servers'
    certificates when that is not the address's host."""

    cert_file: Path
    key_file: Path
    ca_file: Path
    server_name: str | None = None

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> TlsFiles | None:
        """The files an environment names (for the launcher, which checks the processes it starts; the processes
        validate the variables themselves); None when ``TLS_CERT_FILE`` is unset or empty."""
        values = {
            name: environment.get(name) or environment.get(name.lower()) or "" for name in TLS_VARIABLES
        }
        if not values["TLS_CERT_FILE"]:
            return None
        server_name = environment.get("TLS_SERVER_NAME") or None
        cert, key, ca = (Path(values[name]) for name in TLS_VARIABLES)
        return cls(cert, key, ca, server_name)

    def server_credentials(self) -> grpc.ServerCredentials:
        """Credentials of a server that requires a client certificate signed by the CA."""
        return grpc.ssl_server_credentials(
            [(self.key_file.read_bytes(), self.cert_file.read_bytes())],
            root_certificates=self.ca_file.read_bytes(),
            require_client_auth=True,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Credentials of a client that presents its certificate and verifies the server's against the CA."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_file.read_bytes(),
            private_key=self.key_file.read_bytes(),
            certificate_chain=self.cert_file.read_bytes(),
        )

    def channel_options(self) -> list[tuple[str, Any]]:
        """``grpc.ssl_target_name_override`` when a server name is set."""
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def tls_files(settings: Settings) -> TlsFiles | None:
    """The TLS files of the settings (validated at load: all three or none), or None when TLS is off."""
    if settings.tls_cert_file is None or settings.tls_key_file is None or settings.tls_ca_file is None:
        return None
    return TlsFiles(
        settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file, settings.tls_server_name
    )


# --- Servers and channels ------------------------------------------------------------------------------------


def add_port(server: grpc.aio.Server, address: str, tls: TlsFiles | None) -> int:
    """Bind ``address`` with TLS (client certificates required) when configured, in plaintext otherwise; returns the
    bound port (0 when binding failed)."""
    if tls is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, tls.server_credentials())


def aio_channel(
    target: str,
    tls: TlsFiles | None,
    options: Sequence[tuple[str, Any]] = (),
    interceptors: Sequence[grpc.aio.ClientInterceptor] | None = None,
) -> grpc.aio.Channel:
    """An asyncio channel to ``target``: mutual TLS when configured, plaintext otherwise."""
    if tls is None:
        return grpc.aio.insecure_channel(target, options=list(options), interceptors=interceptors)
    return grpc.aio.secure_channel(
        target,
        tls.channel_credentials(),
        options=[*options, *tls.channel_options()],
        interceptors=interceptors,
    )


def sync_channel(target: str, tls: TlsFiles | None, options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    """A blocking channel to ``target``: mutual TLS when configured, plaintext otherwise."""
    if tls is None:
        return grpc.insecure_channel(target, options=list(options))
    return grpc.secure_channel(target, tls.channel_credentials(), options=[*options, *tls.channel_options()])


# --- The loopback rule ---------------------------------------------------------------------------------------

EXEMPT_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


def refusal_message(peer: str) -> str:
    """What a refused caller is told."""
    return (
        f"this service has no TLS (TLS_CERT_FILE, TLS_KEY_FILE, TLS_CA_FILE) and accepts calls only from "
        f"loopback; the call came from {unquote(peer)}"
    )


async def refuse_unless_loopback(context: grpc.aio.ServicerContext[Any, Any], method: str) -> None:
    """Abort the call with ``PERMISSION_DENIED`` when its peer is not loopback."""
    peer = context.peer()
    if not is_loopback_peer(peer):
        log.warning("rpc_refused_not_loopback", method=method, peer=unquote(peer))
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal_message(peer))
