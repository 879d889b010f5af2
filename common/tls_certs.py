"""A throwaway certificate authority and the service certificate for mTLS between the services.

    python -m common.tls_certs --out certs/                      # every service of common/teams.py
    python -m common.tls_certs --out certs/ --names supervisor,research --dns '*.marketing.svc.cluster.local'
    python -m common.tls_certs --out /certs --keep-valid         # docker-compose.yml's one-shot `certs` service

Layout (the keys of a Kubernetes TLS Secret and of cert-manager's, so ``kubectl create secret generic marketing-tls
--from-file=DIR`` takes the folder as it is): ``ca.crt`` (the CA certificate, which every service trusts),
``tls.crt`` and ``tls.key`` (one leaf certificate and its key, shared by every service, written 0600). The CA's own
key is never written: to add a service or renew, generate a new folder and roll it out everywhere.

The leaf names every service (``supervisor``, ``research``, ...: their compose host names), ``marketing-agents``
(a name every certificate carries, for ``TLS_SERVER_NAME`` when an address's host is in no certificate, such as a
Kubernetes headless Service), ``localhost``, ``127.0.0.1`` and ``::1``, plus any ``--dns`` names; its extended key
usage allows both TLS server and TLS client authentication. Keys are ECDSA P-256.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.teams import TEAMS

SHARED_NAME = "marketing-agents"
"""A DNS name in every leaf this module issues: the ``TLS_SERVER_NAME`` of deployments whose addresses' hosts are in
no certificate (``dns:///research-headless.<namespace>.svc.cluster.local:50052``)."""
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
CA_FILE, CERT_FILE, KEY_FILE = "ca.crt", "tls.crt", "tls.key"
DEFAULT_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=30)
"""``--keep-valid`` replaces certificates that expire sooner than this."""

PrivateKey = ec.EllipticCurvePrivateKey


def default_names() -> list[str]:
    """Every service of the registry (``common.teams.TEAMS``), supervisor first."""
    return [TEAMS.supervisor.name, *TEAMS.names]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _subject_alternative_names(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):  # unique, in order
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: PrivateKey

    @property
    def certificate_pem(self) -> bytes:
        """The certificate, PEM-encoded."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        """The private key, PEM-encoded PKCS#8, unencrypted."""
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


@dataclass(frozen=True)
class CertificateAuthority(IssuedCertificate):
    """A self-signed CA that issues leaf certificates (kept in memory only)."""

    @classmethod
    def create(
        cls, common_name: str = "marketing-agents throwaway CA", days: int = DEFAULT_DAYS
    ) -> CertificateAuthority:
        """A new CA, valid from five minutes ago (clock skew) for ``days`` days."""
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(certificate_signing=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key)

    def issue(self, names: Sequence[str], days: int = DEFAULT_DAYS) -> IssuedCertificate:
        """A leaf certificate for ``names`` (DNS names or IP addresses; the first is its common name), good for
        TLS servers and clients alike."""
        if not names:
            raise ValueError("a certificate needs at least one name")
        key = _new_key()
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(min(now + datetime.timedelta(days=days), self.certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(certificate_signing=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(_subject_alternative_names(names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return IssuedCertificate(certificate, key)


def _key_usage(certificate_signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not certificate_signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificate_signing,
        crl_sign=certificate_signing,
        encipher_only=False,
        decipher_only=False,
    )


def leaf_names(services: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    """The names of the shared leaf: the services, ``marketing-agents``, loopback, then ``extra``."""
    return list(dict.fromkeys([*services, SHARED_NAME, *LOOPBACK_NAMES, *extra]))


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write a file with ``mode`` from its creation on (a key is never readable by others, even briefly), then
    move it into place."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.chmod(temporary, mode)  # whatever the umask
    os.replace(temporary, path)


def write_bundle(out: Path, names: Sequence[str], days: int = DEFAULT_DAYS) -> list[Path]:
    """A new CA and a leaf for ``names``, written as ``out/ca.crt``, ``out/tls.crt`` and ``out/tls.key``."""
    ca = CertificateAuthority.create(days=days)
    leaf = ca.issue(names, days=days)
    out.mkdir(parents=True, exist_ok=True)
    files = [(out / CA_FILE, ca.certificate_pem, 0o644), (out / CERT_FILE, leaf.certificate_pem, 0o644)]
    files.append((out / KEY_FILE, leaf.key_pem, 0o600))
    for path, data, mode in files:
        _write(path, data, mode)
    return [path for path, _, _ in files]


def bundle_is_usable(out: Path, names: Sequence[str]) -> bool:
    """True when ``out`` holds a CA and a leaf it signed, whose key matches, naming every one of ``names`` and
    valid for longer than ``RENEW_BEFORE``."""
    try:
        ca = x509.load_pem_x509_certificate((out / CA_FILE).read_bytes())
        leaf = x509.load_pem_x509_certificate((out / CERT_FILE).read_bytes())
        key = serialization.load_pem_private_key((out / KEY_FILE).read_bytes(), password=None)
        leaf.verify_directly_issued_by(ca)
        present = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    named = {str(n) for n in present.get_values_for_type(x509.IPAddress)}
    named |= set(present.get_values_for_type(x509.DNSName))
    expiry = min(leaf.not_valid_after_utc, ca.not_valid_after_utc)
    same_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return same_key and set(names) <= named and expiry - _now() > RENEW_BEFORE


def main(argv: list[str] | None = None) -> int:
    """The command line: write ``ca.crt``, ``tls.crt`` and ``tls.key`` into ``--out``."""
    parser = argparse.ArgumentParser(
        description="Generate a throwaway CA and the services' shared certificate for mTLS (ca.crt, tls.crt, "
        "tls.key). For testing and small deployments; use your own PKI or cert-manager in production."
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write into (created if needed)")
    parser.add_argument(
        "--names",
        default=",".join(default_names()),
        help="comma-separated service host names in the certificate (default: every service of common/teams.py)",
    )
    parser.add_argument(
        "--dns", action="append", default=[], help="one more DNS name or IP address (repeatable)"
    )
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="validity in days (default: 365)")
    parser.add_argument(
        "--keep-valid",
        action="store_true",
        help="keep the files already in --out when they chain, match, name every host and are valid for 30 "
        "more days (a re-run of the compose `certs` service does not replace certificates in use)",
    )
    args = parser.parse_args(argv)
    services = [name.strip() for name in args.names.split(",") if name.strip()]
    if not services:
        parser.error("--names: at least one name")
    if args.days < 2:
        parser.error("--days: at least 2")
    names = leaf_names(services, args.dns)
    if args.keep_valid and bundle_is_usable(args.out, names):
        print(f"kept the certificates in {args.out} (valid, and they name {', '.join(names)})")
        return 0
    for path in write_bundle(args.out, names, args.days):
        print(f"wrote {path}")
    print(f"names: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
