"""Receive one delivery: verify the signature, persist it once, and say how to acknowledge it.

The order is the contract (a delivery is acknowledged only once it is durably stored):
source → signature over the raw bytes → JSON → inbox insert → commit. Nothing is written
before the signature holds. The receiver owns its two short transactions (look-up, insert)
instead of the request session so that a failing commit becomes a 503, never a 2xx.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from connectors.base import Ignore, WebhookInstruction
from connectors.github import webhooks as github_webhooks
from connectors.jira import webhooks as jira_webhooks
from schemas.enums import DeliveryStatus, SourceKind
from schemas.tables import Source
from schemas.types import utcnow
from service.errors import (
    BadRequest,
    ConfigurationError,
    NotFound,
    Unauthorized,
    Unavailable,
    Unprocessable,
)
from service.security import SecretBox
from service.store.db import Database
from service.webhooks import inbox
from service.webhooks.metrics import DELIVERIES, VERIFICATION_FAILURES

RETRY_AFTER_SECONDS = 5
REFRESH_AT_MOST_EVERY_SECONDS = 1.0
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_DELIVERY_ID = 300
_REDACTED = "[redacted]"
_SECRET_HEADER_WORDS = ("signature", "secret", "token", "authorization", "cookie", "api-key")
# What a lost or refusing database raises, wrapped by SQLAlchemy or not (connect-time errors).
_DATABASE_ERRORS = (
    SQLAlchemyError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    sqlite3.Error,
)


class InboxUnavailable(Unavailable):
    """The delivery could not be stored; the sender should retry (Jira does on 503)."""

    retry_after = RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class Receipt:
    id: int
    delivery_id: str
    status: DeliveryStatus
    duplicate: bool
    http_status: int


@dataclass(frozen=True)
class _Parsed:
    delivery_id: str
    event: str
    action: str | None
    payload: dict[str, Any]


# The secrets a source accepts: the current one (no end) and, during a rotation's grace window,
# the previous one until its end.
Secrets = list[tuple[str, datetime | None]]


class SourceCache:
    """Sources the receiver has seen, with their decrypted webhook secrets, for `ttl` seconds.

    Saves a transaction (on SQLite, a write lock) and a decryption per delivery. Only found
    sources are kept, so a source created a moment ago answers its first `ping`; a changed
    scope or `enabled` flag takes effect within `ttl`. A signature that fails against a cached
    entry is checked once more against the stored source, so a rotated secret works at once.
    `now` is the wall clock that ends a previous secret's grace window.
    """

    def __init__(
        self,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.now = now
        self._entries: dict[int, tuple[float, Source, Secrets]] = {}

    async def get(
        self,
        db: Database,
        secret_box: SecretBox,
        source_id: int,
        kind: SourceKind,
        *,
        fresh: bool = False,
    ) -> tuple[Source, Secrets, bool]:
        """The source, its secrets, and whether they came from the cache."""
        entry = self._entries.get(source_id)
        if entry is not None and entry[0] > self.clock() and entry[1].kind == kind.value:
            # A forced re-read happens at most once a second per source, so a flood of bad
            # signatures cannot turn into a flood of database reads.
            loaded_at = entry[0] - self.ttl
            if not fresh or self.clock() - loaded_at < REFRESH_AT_MOST_EVERY_SECONDS:
                return entry[1], entry[2], True
        source = await _load_source(db, source_id, kind)
        secrets = _secrets(source, secret_box)
        if len(self._entries) > 1000:
            self._entries.clear()
        self._entries[source_id] = (self.clock() + self.ttl, source, secrets)
        return source, secrets, False

    def forget(self, source_id: int) -> None:
        """Drop a source (its secret just changed in this process)."""
        self._entries.pop(source_id, None)

    def verified(self, kind: SourceKind, secrets: Secrets, body: bytes, header: str | None) -> bool:
        verify = (
            github_webhooks.verify_signature
            if kind is SourceKind.github
            else jira_webhooks.verify_signature
        )
        now = self.now()
        return any(
            verify(secret, body, header)
            for secret, until in secrets
            if until is None or now < until
        )


async def receive(
    db: Database,
    secret_box: SecretBox,
    kind: SourceKind,
    source_id: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    sources: SourceCache | None = None,
) -> Receipt:
    """Store one delivery; raise a ServiceError (401/400/404/503) when it is refused."""
    cache = sources or SourceCache(ttl=0)
    source, secrets, cached = await cache.get(db, secret_box, source_id, kind)
    header = "x-hub-signature-256" if kind is SourceKind.github else "x-hub-signature"
    signature = _header(headers, header)
    verified = cache.verified(kind, secrets, body, signature)
    if not verified and cached:
        source, secrets, _ = await cache.get(db, secret_box, source_id, kind, fresh=True)
        verified = cache.verified(kind, secrets, body, signature)
    if not verified:
        VERIFICATION_FAILURES.labels(str(source_id), "signature").inc()
        raise Unauthorized(
            f"the {header} signature does not match the body for this source's webhook secret"
        )
    payload = _json_object(body)
    parsed = _parse_github(headers, payload) if kind is SourceKind.github else None
    parsed = parsed or _parse_jira(headers, body, payload)
    status, reason = _classify(source, kind, parsed)
    values = {
        "source_id": source_id,
        "delivery_id": parsed.delivery_id,
        "event": parsed.event,
        "action": parsed.action,
        "status": status.value,
        "signature_valid": True,
        "headers": redact_headers(headers),
        "payload": parsed.payload,
        "error": _storable(reason) if reason is not None else None,
        "attempts": 0,
        "received_at": utcnow(),
    }
    stored = await _store(db, values)
    DELIVERIES.labels(
        str(source_id), parsed.event, "duplicate" if stored.duplicate else status.value
    ).inc()
    is_ping = kind is SourceKind.github and parsed.event == "ping"
    return Receipt(
        id=stored.id,
        delivery_id=parsed.delivery_id,
        status=stored.status,
        duplicate=stored.duplicate,
        http_status=200 if stored.duplicate or is_ping else 202,
    )


async def _load_source(db: Database, source_id: int, kind: SourceKind) -> Source:
    try:
        async with db.session() as session:
            source = await inbox.get_source(session, source_id)
    except _DATABASE_ERRORS as exc:
        raise InboxUnavailable("the database is unavailable; the delivery was not stored") from exc
    if source is None or source.kind != kind.value:
        raise NotFound(f"no {kind.value} source with id {source_id}")
    return source


def _secrets(source: Source, secret_box: SecretBox) -> Secrets:
    if not source.webhook_secret_encrypted:
        VERIFICATION_FAILURES.labels(str(source.id), "no_secret").inc()
        raise Unauthorized(
            "this source has no webhook secret, so it accepts no deliveries: set one on the "
            "source and the same secret on the upstream webhook"
        )
    try:
        secrets: Secrets = [(secret_box.decrypt(source.webhook_secret_encrypted), None)]
        previous, until = (
            source.webhook_secret_previous_encrypted,
            source.webhook_secret_previous_until,
        )
        if previous and until is not None:
            secrets.append((secret_box.decrypt(previous), until))
        return secrets
    except ConfigurationError as exc:
        raise InboxUnavailable(
            "the source's webhook secret cannot be decrypted with the configured keys"
        ) from exc


async def _store(db: Database, values: dict[str, Any]) -> inbox.Stored:
    try:
        async with db.session() as session:
            stored = await inbox.insert_delivery(session, values)
            await inbox.note_verified_delivery(session, values["source_id"], values["received_at"])
            return stored
    except IntegrityError as exc:
        # The only other constraint is the source foreign key: deleted since the look-up.
        raise NotFound(f"source {values['source_id']} no longer exists") from exc
    except DataError as exc:
        raise Unprocessable("the payload holds values the store cannot keep") from exc
    except _DATABASE_ERRORS as exc:
        raise InboxUnavailable("the database is unavailable; the delivery was not stored") from exc


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def _finite_float(token: str) -> float:
    # `1e999` parses to infinity, which no JSON column can hold (PostgreSQL refuses it).
    value = float(token)
    if not math.isfinite(value):
        raise ValueError(f"the number {token[:40]} is out of range")
    return value


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise BadRequest("the body is empty; a delivery is a JSON object")
    try:
        payload = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object")
    if b"\\u0000" in body or _SURROGATE_ESCAPE.search(body):
        # PostgreSQL cannot hold NUL characters or lone UTF-16 surrogates (invalid Unicode):
        # keep the delivery, lose only those characters (each becomes U+FFFD).
        cleaned: dict[str, Any] = _clean_text(payload)
        return cleaned
    return payload


def _clean_text(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_clean_text(v) for v in value]
    if isinstance(value, dict):
        return {_clean_text(k): _clean_text(v) for k, v in value.items()}
    return value


def _storable(text: str) -> str:
    """Text the database can keep: a NUL (a header may carry one) becomes U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


def _bounded_id(raw: str) -> str:
    # Long ids still dedupe, as their hash; the column holds 300 characters.
    if len(raw) <= MAX_DELIVERY_ID:
        return raw
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def _parse_github(headers: Mapping[str, str], payload: dict[str, Any]) -> _Parsed:
    event = (_header(headers, "x-github-event") or "").strip()
    if not event:
        raise BadRequest("missing X-GitHub-Event header")
    if not (_header(headers, "x-github-delivery") or "").strip():
        raise BadRequest("missing X-GitHub-Delivery header")
    action = payload.get("action")
    return _Parsed(
        delivery_id=_storable(_bounded_id(github_webhooks.delivery_id(headers))),
        event=_storable(event[:100]),
        action=_storable(str(action)[:100]) if action is not None else None,
        payload=payload,
    )


def _parse_jira(headers: Mapping[str, str], body: bytes, payload: dict[str, Any]) -> _Parsed:
    event = payload.get("webhookEvent")
    action = payload.get("issue_event_type_name")
    return _Parsed(
        delivery_id=_storable(_bounded_id(jira_webhooks.delivery_id(headers, body))),
        event=str(event)[:100] if event else "unknown",
        action=str(action)[:100] if action is not None else None,
        payload=payload,
    )


def instruction_for(source: Source, event: str, payload: dict[str, Any]) -> WebhookInstruction:
    """The connector's verdict for one delivery (the worker applies exactly this)."""
    settings = {**(source.discovered or {}), **(source.settings or {})}
    if source.kind == SourceKind.github.value:
        return github_webhooks.parse_event(event, payload, settings)
    return jira_webhooks.parse_event(payload, settings, site_url=source.base_url)


def out_of_scope(source: Source, payload: Mapping[str, Any]) -> str | None:
    """Why a delivery falls outside the source's scope, or None when it is inside."""
    scope = source.scope or {}
    if source.kind == SourceKind.github.value:
        repo = github_webhooks.payload_repo(payload)
        repos = {str(r).casefold() for r in scope.get("repos") or []}
        org = str(scope.get("org") or "").casefold()
        if repo and (repo.casefold() in repos or (org and repo.split("/")[0].casefold() == org)):
            return None
        return f"repository {repo or '(none)'} is outside the source scope"
    projects = {str(p).casefold() for p in scope.get("projects") or []}
    if not projects:
        return None  # a JQL-only scope: the upstream webhook's own JQL filter decides
    project = jira_webhooks.payload_project(payload)
    if project and project.casefold() in projects:
        return None
    return f"project {project or '(none)'} is outside the source scope"


def _classify(
    source: Source, kind: SourceKind, parsed: _Parsed
) -> tuple[DeliveryStatus, str | None]:
    """`ignored` (with the reason) when applying would change nothing; else `pending`."""
    if kind is SourceKind.github and parsed.event == "ping":
        return DeliveryStatus.ignored, "ping"
    if not source.enabled:
        return DeliveryStatus.ignored, "source disabled; replay the delivery once enabled"
    try:
        instruction = instruction_for(source, parsed.event, parsed.payload)
    except Exception:
        # Mapping can fail in many ways on an odd payload. Kept as pending: the worker records
        # the error on the row and retries, then gives up (`dead`), so nothing is lost silently.
        return DeliveryStatus.pending, None
    if isinstance(instruction, Ignore):
        return DeliveryStatus.ignored, instruction.reason
    reason = out_of_scope(source, parsed.payload)
    if reason is not None:
        return DeliveryStatus.ignored, reason
    return DeliveryStatus.pending, None


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers as stored and shown to admins: signatures, tokens and cookies never kept."""
    return {
        _storable(k.lower()): (_REDACTED if _is_secret(k.lower()) else _storable(v[:1000]))
        for k, v in headers.items()
    }


def _is_secret(name: str) -> bool:
    return any(word in name for word in _SECRET_HEADER_WORDS)
