"""The console's session: the reviewer's credential and a CSRF token in an AES-GCM sealed cookie (HttpOnly,
SameSite=Strict). The gateway keeps no session state, so any replica with the same secret reads it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COOKIE = "marketing_console"
MAX_AGE_S = 8 * 3600


@dataclass(frozen=True)
class Session:
    """A signed-in reviewer: the credential the gateway forwards, and the CSRF token of the forms."""

    credential: str
    csrf: str


class SessionSealer:
    """Seals and opens session cookies with a key derived from ``GATEWAY_SESSION_SECRET`` (random when unset:
    sessions then end when the gateway restarts)."""

    def __init__(self, secret: str | None) -> None:
        material = secret.encode() if secret else os.urandom(32)
        self._aead = AESGCM(hashlib.sha256(b"marketing-console-session\0" + material).digest())

    def seal(self, credential: str) -> tuple[str, Session]:
        """A new session's cookie value and the session."""
        session = Session(credential, secrets.token_urlsafe(24))
        nonce = os.urandom(12)
        plain = json.dumps({"c": session.credential, "x": session.csrf}).encode()
        return base64.urlsafe_b64encode(
            nonce + self._aead.encrypt(nonce, plain, COOKIE.encode())
        ).decode(), session

    def open(self, value: str | None) -> Session | None:
        """The session of a cookie value; None when absent, tampered with or sealed under another key."""
        if not value:
            return None
        try:
            raw = base64.urlsafe_b64decode(value.encode())
            data = json.loads(self._aead.decrypt(raw[:12], raw[12:], COOKIE.encode()))
            return Session(str(data["c"]), str(data["x"]))
        except (InvalidTag, ValueError, KeyError, TypeError):
            return None
