"""Tenant secrets at rest: AES-GCM round trips, key rotation, tampering, the tenant as associated data, the key
file's errors, and ``python -m common.secrets new-key``."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import ConfigError
from common.secrets import DecryptionError, Keyring, SecretsUnavailable, main, new_key_line

PLAINTEXT = "x-token-7f3a9c-very-secret"


def key_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "keys.txt"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def test_round_trip_binds_the_tenant_and_uses_a_fresh_nonce(tmp_path: Path) -> None:
    keyring = Keyring.from_file(key_file(tmp_path, "# current key first", new_key_line("k1"), ""))
    first, second = keyring.encrypt(PLAINTEXT, "acme"), keyring.encrypt(PLAINTEXT, "acme")
    assert first != second, "each encryption takes a fresh nonce"
    version, key_id, nonce, sealed = first.split(".")
    assert (version, key_id, len(base64.b64decode(nonce))) == ("v1", "k1", 12)
    assert PLAINTEXT not in first and PLAINTEXT.encode() not in base64.b64decode(sealed)
    assert keyring.decrypt_text(first, "acme") == PLAINTEXT
    assert keyring.decrypt(keyring.encrypt(b"\x00\xffbytes", "acme"), "acme") == b"\x00\xffbytes"


def test_another_tenants_aad_does_not_decrypt() -> None:
    keyring = Keyring.parse(new_key_line("k1"))
    sealed = keyring.encrypt(PLAINTEXT, "acme")
    with pytest.raises(DecryptionError, match="another tenant") as caught:
        keyring.decrypt(sealed, "globex")
    assert PLAINTEXT not in str(caught.value)


@pytest.mark.parametrize("part", [1, 2, 3])
def test_tampering_is_detected(part: int) -> None:
    keyring = Keyring.parse(new_key_line("k1") + "\n" + new_key_line("k0"))
    parts = keyring.encrypt(PLAINTEXT, "acme").split(".")
    if part == 1:
        parts[1] = "k0"  # claims another key of the ring
    else:
        raw = bytearray(base64.b64decode(parts[part]))
        raw[0] ^= 0x01
        parts[part] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(DecryptionError):
        keyring.decrypt(".".join(parts), "acme")


@pytest.mark.parametrize("token", ["", "v1.k1.abc", "v2.k1.AAAA.AAAA", "v1.k1.***.AAAA", "v1.k1.AAAA.AAAA"])
def test_malformed_ciphertexts_are_refused(token: str) -> None:
    with pytest.raises(DecryptionError):
        Keyring.parse(new_key_line("k1")).decrypt(token, "acme")


def test_rotation_old_keys_still_decrypt_and_new_secrets_use_the_new_key(tmp_path: Path) -> None:
    old_line = new_key_line("k2026a")
    before = Keyring.from_file(key_file(tmp_path, old_line))
    sealed_before = before.encrypt(PLAINTEXT, "acme")
    after = Keyring.from_file(key_file(tmp_path, new_key_line("k2026b"), old_line))
    assert after.current_key_id == "k2026b"
    assert after.decrypt_text(sealed_before, "acme") == PLAINTEXT
    assert not after.is_current(sealed_before)
    rotated = after.rotate(sealed_before, "acme")
    assert rotated.split(".")[1] == "k2026b" and after.decrypt_text(rotated, "acme") == PLAINTEXT
    assert after.rotate(rotated, "acme") == rotated
    # The old key dropped too early: a clear message naming the key file, not the secret.
    dropped = Keyring.parse(new_key_line("k2026b"))
    with pytest.raises(DecryptionError, match=r"'k2026a'.*SECRETS_KEY_FILE"):
        dropped.decrypt(sealed_before, "acme")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no key"),
        ("# only a comment\n", "holds no key"),
        ("no separator here", "line 1: expected '<key id>:<base64"),
        ("bad id!:" + base64.b64encode(os.urandom(32)).decode(), "line 1: the key id"),
        ("k1:not*base64", "line 1: key 'k1' is not valid base64"),
        ("k1:" + base64.b64encode(os.urandom(16)).decode(), "line 1: key 'k1' must be 32 bytes (got 16)"),
        (f"{new_key_line('k1')}\n\n{new_key_line('k1')}", "key id 'k1' is used twice"),
    ],
)
def test_a_malformed_key_file_names_secrets_key_file_and_the_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "keys.txt"
    path.write_text(text)
    with pytest.raises(ConfigError, match="SECRETS_KEY_FILE") as caught:
        Keyring.from_file(path)
    assert message in str(caught.value)
    for line in text.splitlines():
        if ":" in line:
            assert line.split(":", 1)[1] not in str(caught.value), "key material must not reach the message"


def test_an_unreadable_key_file_names_secrets_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"SECRETS_KEY_FILE=.*missing.txt: cannot read"):
        Keyring.from_file(tmp_path / "missing.txt")
    assert Keyring.from_path(None) is None


def test_keys_never_show_in_repr_and_a_missing_keyring_names_the_variable() -> None:
    line = new_key_line("k1")
    assert line.split(":", 1)[1] not in repr(Keyring.parse(line))
    error = SecretsUnavailable("social credentials")
    assert error.code.name == "FAILED_PRECONDITION" and "SECRETS_KEY_FILE" in error.message


def test_new_key_prints_a_line_the_keyring_reads(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-key", "kcustom"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("kcustom:") and Keyring.parse(line).current_key_id == "kcustom"
    assert main(["rotate"]) == 2
    assert main(["new-key", "bad.id"]) == 2
    generated = subprocess.run(
        [sys.executable, "-m", "common.secrets", "new-key"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Keyring.parse(generated).current_key_id.startswith("k")
    assert generated != line
