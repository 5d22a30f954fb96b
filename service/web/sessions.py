"""Browser sessions: a signed cookie naming an API key id, and CSRF tokens bound to it.

The cookie holds no secret: `{"k": key id or null, "e": expiry, "n": nonce}`, signed with
HMAC-SHA256 under a key derived from the app's secret keys. The key id is checked against the
store on every request, so revoking the API key ends its browser sessions at once. The nonce
is fresh at every sign-in; CSRF tokens are an HMAC of it, so a token from another session
(or from before a sign-in) is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from service.security import SecretBox

COOKIE_NAME = "ps_session"
SESSION_TTL_SECONDS = 8 * 3600
# A visitor who is not signed in still gets a nonce (the sign-in form carries a CSRF token).
ANONYMOUS_TTL_SECONDS = 3600
_PURPOSE = "web-session"


@dataclass(frozen=True)
class WebSession:
    key_id: int | None
    expires_at: int
    nonce: str

    @property
    def signed_in(self) -> bool:
        return self.key_id is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Signs with the newest derived key; verifies with every one (secret-key rotation)."""

    def __init__(self, box: SecretBox) -> None:
        self._keys = box.derived_keys(_PURPOSE)

    def _mac(self, key: bytes, message: bytes) -> str:
        return _b64(hmac.new(key, message, hashlib.sha256).digest())

    def new(self, key_id: int | None, *, now: float | None = None) -> WebSession:
        ttl = SESSION_TTL_SECONDS if key_id is not None else ANONYMOUS_TTL_SECONDS
        issued = int(now if now is not None else time.time())
        return WebSession(key_id=key_id, expires_at=issued + ttl, nonce=secrets.token_urlsafe(16))

    def dump(self, session: WebSession) -> str:
        body = json.dumps(
            {"k": session.key_id, "e": session.expires_at, "n": session.nonce},
            separators=(",", ":"),
        ).encode()
        payload = _b64(body)
        return f"{payload}.{self._mac(self._keys[0], payload.encode())}"

    def load(self, cookie: str | None, *, now: float | None = None) -> WebSession | None:
        """The session in a cookie, or None when it is missing, forged, malformed or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, signature = cookie.split(".")
        if not any(
            hmac.compare_digest(signature, self._mac(key, payload.encode())) for key in self._keys
        ):
            return None
        try:
            data = json.loads(_unb64(payload))
            key_id, expires_at, nonce = data["k"], data["e"], data["n"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if not isinstance(expires_at, int) or not isinstance(nonce, str):
            return None
        if key_id is not None and (not isinstance(key_id, int) or isinstance(key_id, bool)):
            return None
        if expires_at <= int(now if now is not None else time.time()):
            return None
        return WebSession(key_id=key_id, expires_at=expires_at, nonce=nonce)

    def csrf_token(self, session: WebSession) -> str:
        return self._mac(self._keys[0], b"csrf:" + session.nonce.encode())

    def csrf_valid(self, session: WebSession, token: str | None) -> bool:
        if not token:
            return False
        message = b"csrf:" + session.nonce.encode()
        return any(hmac.compare_digest(token, self._mac(key, message)) for key in self._keys)
