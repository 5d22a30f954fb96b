"""Secrets at rest (Fernet, with key rotation) and API-key hashing."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import make_url

from service.config import Settings
from service.errors import ConfigurationError

logger = logging.getLogger(__name__)

API_KEY_PREFIX = "psk_"


class SecretBox:
    """Encrypts credentials for storage. The first key encrypts; every key decrypts (rotation)."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigurationError("at least one Fernet key is required")
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys])
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                "PORTFOLIO_SYNC_SECRET_KEY must be Fernet keys (urlsafe base64, 32 bytes), "
                "comma-separated; generate one with `portfolio-sync secret-key`"
            ) from exc
        self._keys = [k.strip().encode() for k in keys]

    def derived_keys(self, purpose: str) -> list[bytes]:
        """Keys for `purpose` (e.g. signing cookies), newest first, one per configured key.

        Derived, never the encryption keys themselves: a leaked signing key reveals no secret.
        """
        label = b"portfolio-sync:" + purpose.encode()
        return [hmac.new(key, label, hashlib.sha256).digest() for key in self._keys]

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ConfigurationError(
                "stored secret cannot be decrypted with the configured keys"
            ) from exc

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True))

    def decrypt_json(self, token: str) -> dict[str, Any]:
        result = json.loads(self.decrypt(token))
        if not isinstance(result, dict):
            raise ConfigurationError("stored credentials are not an object")
        return result

    def rotate(self, token: str) -> str:
        """Re-encrypt under the newest key."""
        return self._fernet.rotate(token.encode()).decode()


def generate_secret_key() -> str:
    return Fernet.generate_key().decode()


def load_secret_box(settings: Settings) -> SecretBox:
    """Keys from the setting; on SQLite without one, a key file beside the database."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value().strip():
        return SecretBox(settings.secret_key.get_secret_value().split(","))
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        raise ConfigurationError(
            "PORTFOLIO_SYNC_SECRET_KEY is required with PostgreSQL: credentials are encrypted "
            "at rest. Generate one with `portfolio-sync secret-key` and set it in the environment."
        )
    database = url.database or ""
    if database in ("", ":memory:"):
        logger.warning("no PORTFOLIO_SYNC_SECRET_KEY: using an ephemeral key for in-memory SQLite")
        return SecretBox([generate_secret_key()])
    key_path = Path(database).with_suffix(".key")
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_secret_key())
        logger.warning(
            "no PORTFOLIO_SYNC_SECRET_KEY: generated a key file",
            extra={"key_file": str(key_path)},
        )
    return SecretBox([key_path.read_text().strip()])


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # Keys are 256-bit random values, so a fast unsalted digest is as strong as a slow KDF here.
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(key: str) -> str:
    return key[: len(API_KEY_PREFIX) + 6]
