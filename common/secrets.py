"""Tenant secrets at rest: AES-GCM with keys from ``SECRETS_KEY_FILE``, rotated by adding a key.

The key file holds one key a line, ``<key id>:<base64 of 32 random bytes>``; blank lines and lines starting with
``#`` are ignored. The first key is the current one: it encrypts. Every key decrypts what it encrypted, so a
rotation adds a new first line and keeps the old ones until every secret has been written again.

A ciphertext is ``v1.<key id>.<base64 nonce>.<base64 ciphertext and tag>``: a fresh 12-byte nonce per secret, the
tenant id as associated data (a secret copied to another tenant's row does not decrypt). Plaintext and key material
never appear in a log line or an error message.

``python -m common.secrets new-key`` prints a new key line.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from common.errors import ConfigError, FailedPrecondition
from common.logging import get_logger

log = get_logger(__name__)

KEY_FILE_VARIABLE = "SECRETS_KEY_FILE"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
FORMAT_VERSION = "v1"
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""A key id: letters, digits, '_' and '-' (no '.' or ':', which separate the parts of a line and a ciphertext)."""


class SecretsUnavailable(FailedPrecondition):
    """A secret must be stored, but no key is configured (``FAILED_PRECONDITION`` naming ``SECRETS_KEY_FILE``)."""

    def __init__(self, what: str = "tenant secrets") -> None:
        super().__init__(
            f"{what} cannot be stored: {KEY_FILE_VARIABLE} is not set; create a key file with "
            f"`python -m common.secrets new-key > keys.txt` and point {KEY_FILE_VARIABLE} at it"
        )


class DecryptionError(Exception):
    """A ciphertext did not decrypt: malformed, tampered with, encrypted for another tenant, or under a key the
    key file no longer holds. The message never holds the plaintext or a key."""


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _parse_line(line: str, number: int, source: str) -> tuple[str, bytes]:
    key_id, separator, encoded = line.partition(":")
    where = f"{KEY_FILE_VARIABLE} ({source}) line {number}"
    if not separator:
        raise ConfigError(f"{where}: expected '<key id>:<base64 of {KEY_BYTES} bytes>'")
    key_id, encoded = key_id.strip(), encoded.strip()
    if not KEY_ID.match(key_id):
        raise ConfigError(f"{where}: the key id must be 1-64 letters, digits, '_' or '-'")
    try:
        key = _b64decode(encoded)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: key {key_id!r} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{where}: key {key_id!r} must be {KEY_BYTES} bytes (got {len(key)})")
    return key_id, key


class Keyring:
    """The keys of ``SECRETS_KEY_FILE``: the first encrypts, every one decrypts what it encrypted."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """Build a keyring from ``(key id, 32-byte key)`` pairs, the current key first.

        Raises:
            ConfigError: No key, a malformed id or key, or an id used twice.
        """
        if not keys:
            raise ConfigError(f"{KEY_FILE_VARIABLE}: the key file holds no key")
        self._keys: dict[str, AESGCM] = {}
        for key_id, key in keys:
            if not KEY_ID.match(key_id):
                raise ConfigError(f"{KEY_FILE_VARIABLE}: invalid key id {key_id!r}")
            if len(key) != KEY_BYTES:
                raise ConfigError(f"{KEY_FILE_VARIABLE}: key {key_id!r} must be {KEY_BYTES} bytes")
            if key_id in self._keys:
                raise ConfigError(f"{KEY_FILE_VARIABLE}: key id {key_id!r} is used twice")
            self._keys[key_id] = AESGCM(key)
        self.current_key_id = keys[0][0]

    def __repr__(self) -> str:
        return f"Keyring(current={self.current_key_id!r}, keys={len(self._keys)})"

    @classmethod
    def parse(cls, text: str, source: str = "<text>") -> Keyring:
        """A keyring from the text of a key file.

        Raises:
            ConfigError: A malformed line (the message names ``SECRETS_KEY_FILE`` and the line, never a key).
        """
        keys = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if line and not line.startswith("#"):
                keys.append(_parse_line(line, number, source))
        return cls(keys)

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        """Read a key file; warns when other users may read it.

        Raises:
            ConfigError: The file is unreadable or malformed; the message names ``SECRETS_KEY_FILE``.
        """
        try:
            text = path.read_text(encoding="utf-8")
            mode = path.stat().st_mode
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{KEY_FILE_VARIABLE}={path}: cannot read the key file ({exc})") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("secrets_key_file_readable_by_others", path=str(path), mode=oct(mode & 0o777))
        keyring = cls.parse(text, str(path))
        log.info(
            "secrets_keyring_loaded", path=str(path), keys=len(keyring._keys), current=keyring.current_key_id
        )
        return keyring

    @classmethod
    def from_path(cls, path: Path | None) -> Keyring | None:
        """The keyring of ``SECRETS_KEY_FILE`` (``settings.secrets_key_file``), or None when it is not set."""
        return None if path is None else cls.from_file(path)

    def encrypt(self, plaintext: str | bytes, aad: str) -> str:
        """Encrypt under the current key, bound to ``aad`` (the tenant id)."""
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.current_key_id].encrypt(nonce, data, aad.encode("utf-8"))
        parts = (FORMAT_VERSION, self.current_key_id, _b64(nonce), _b64(sealed))
        return ".".join(parts)

    def decrypt(self, token: str, aad: str) -> bytes:
        """Decrypt a value of :meth:`encrypt` with the key it names.

        Raises:
            DecryptionError: Malformed, tampered with, another ``aad``, or a key id the keyring does not hold.
        """
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != FORMAT_VERSION:
            raise DecryptionError(f"not a {FORMAT_VERSION} ciphertext")
        _, key_id, nonce_text, sealed_text = parts
        cipher = self._keys.get(key_id)
        if cipher is None:
            raise DecryptionError(
                f"encrypted with key {key_id!r}, which {KEY_FILE_VARIABLE} no longer holds; put it back"
            )
        try:
            nonce, sealed = _b64decode(nonce_text), _b64decode(sealed_text)
        except (binascii.Error, ValueError):
            raise DecryptionError("ciphertext is not valid base64") from None
        if len(nonce) != NONCE_BYTES:
            raise DecryptionError("ciphertext has a malformed nonce")
        try:
            return cipher.decrypt(nonce, sealed, aad.encode("utf-8"))
        except InvalidTag:
            raise DecryptionError(
                "ciphertext failed authentication (tampered with, or stored for another tenant)"
            ) from None

    def decrypt_text(self, token: str, aad: str) -> str:
        """:meth:`decrypt`, as UTF-8 text."""
        return self.decrypt(token, aad).decode("utf-8")

    def is_current(self, token: str) -> bool:
        """Whether a ciphertext is under the current key (else rewrite it after a rotation)."""
        parts = token.split(".")
        return len(parts) == 4 and parts[1] == self.current_key_id

    def rotate(self, token: str, aad: str) -> str:
        """The same plaintext encrypted under the current key (unchanged when it already is)."""
        return token if self.is_current(token) else self.encrypt(self.decrypt(token, aad), aad)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def new_key_line(key_id: str | None = None) -> str:
    """A new key file line: ``<key id>:<base64 of 32 random bytes>`` (the id defaults to ``k<UTC date>-<hex>``)."""
    key_id = key_id or f"k{datetime.now(UTC):%Y%m%d}-{os.urandom(3).hex()}"
    if not KEY_ID.match(key_id):
        raise ValueError("a key id is 1-64 letters, digits, '_' or '-'")
    return f"{key_id}:{_b64(AESGCM.generate_key(bit_length=KEY_BYTES * 8))}"


USAGE = f"""usage: python -m common.secrets new-key [KEY_ID]

Prints a new key line for {KEY_FILE_VARIABLE}. To rotate, put it first in the key file and keep the old lines:
old secrets still decrypt, new ones use the new key."""


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "new-key" or len(args) > 2:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        print(new_key_line(args[1] if len(args) == 2 else None))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
