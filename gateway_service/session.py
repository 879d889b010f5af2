"""The console's cookies, sealed with AES-GCM: the session (the reviewer's credential and a CSRF token; HttpOnly,
SameSite=Strict) and, while a sign-in through the issuer runs, its flow (state, nonce, PKCE code verifier; HttpOnly,
SameSite=Lax, only sent to the callback). The gateway keeps no session state, so any replica with the same secret
reads them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COOKIE = "marketing_console"
MAX_AGE_S = 8 * 3600
FLOW_COOKIE = "marketing_console_sign_in"
FLOW_PATH = "/console/sign-in/callback"
"""The flow cookie is only sent to the callback."""
FLOW_MAX_AGE_S = 600
"""How long a sign-in at the issuer may take (the cookie's Max-Age, and checked on opening)."""


@dataclass(frozen=True)
class Session:
    """A signed-in reviewer: the credential the gateway forwards, and the CSRF token of the forms."""

    credential: str
    csrf: str


@dataclass(frozen=True)
class SignInFlow:
    """A sign-in through the issuer between the redirect to its authorization endpoint and the callback.

    Attributes:
        state: The ``state`` sent to the issuer; the callback must bring it back.
        nonce: The ``nonce`` sent to the issuer; the ID token must carry it.
        code_verifier: The PKCE verifier (RFC 7636); its S256 challenge went to the issuer.
        redirect_uri: The redirect_uri of the authorization request (the token request repeats it).
        started_at: When the flow started (epoch seconds).
    """

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    started_at: float


class SessionSealer:
    """Seals and opens the console's cookies with a key derived from ``GATEWAY_SESSION_SECRET`` (random when
    unset: sessions then end when the gateway restarts). Each cookie's name is the AEAD's associated data, so a
    value sealed for one cookie never opens as another."""

    def __init__(self, secret: str | None) -> None:
        material = secret.encode() if secret else os.urandom(32)
        self._aead = AESGCM(hashlib.sha256(b"marketing-console-session\0" + material).digest())

    def seal(self, credential: str) -> tuple[str, Session]:
        """A new session's cookie value and the session."""
        session = Session(credential, secrets.token_urlsafe(24))
        return self._seal(COOKIE, {"c": session.credential, "x": session.csrf}), session

    def open(self, value: str | None) -> Session | None:
        """The session of a cookie value; None when absent, tampered with or sealed under another key."""
        data = self._open(COOKIE, value)
        try:
            return Session(str(data["c"]), str(data["x"])) if data is not None else None
        except (KeyError, TypeError):
            return None

    def seal_flow(self, flow: SignInFlow) -> str:
        """The flow cookie's value."""
        return self._seal(FLOW_COOKIE, asdict(flow))

    def open_flow(self, value: str | None, now: float | None = None) -> SignInFlow | None:
        """The flow of a cookie value; None when absent, tampered with, sealed under another key or older than
        ``FLOW_MAX_AGE_S``."""
        data = self._open(FLOW_COOKIE, value)
        try:
            flow = SignInFlow(**data) if data is not None else None
        except TypeError:
            return None
        if flow is None or not isinstance(flow.started_at, int | float):
            return None
        age = (time.time() if now is None else now) - flow.started_at
        return flow if 0 <= age <= FLOW_MAX_AGE_S else None

    def _seal(self, purpose: str, data: dict[str, Any]) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(data).encode(), purpose.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def _open(self, purpose: str, value: str | None) -> dict[str, Any] | None:
        if not value:
            return None
        try:
            raw = base64.urlsafe_b64decode(value.encode())
            data = json.loads(self._aead.decrypt(raw[:12], raw[12:], purpose.encode()))
        except (InvalidTag, ValueError, TypeError):
            return None
        return data if isinstance(data, dict) else None
