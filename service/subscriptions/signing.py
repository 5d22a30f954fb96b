"""Standard Webhooks (standardwebhooks.com): secrets, message ids and signatures."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime
from typing import Any

from service.errors import Unprocessable

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret; a 422 naming `secret` when malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise _bad_secret("must look like `whsec_<base64>`")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad_secret("the part after `whsec_` is not valid base64") from exc
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise _bad_secret(f"must decode to {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return key


def _bad_secret(message: str) -> Unprocessable:
    return Unprocessable(
        f"secret: {message}",
        errors=[{"loc": ["body", "secret"], "msg": message, "type": "value_error"}],
    )


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def encode_body(payload: dict[str, Any]) -> bytes:
    # Deterministic, so a retry sends byte-for-byte the body of the first attempt.
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode()}"


def headers(secret: str, message_id: str, sent_at: datetime, body: bytes) -> dict[str, str]:
    timestamp = int(sent_at.timestamp())
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "user-agent": "portfolio-sync-webhooks/1",
    }
