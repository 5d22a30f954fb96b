"""Webhooks the service registers upstream for a source: register, unregister, rotate the secret.

The wire calls are the connector's (`WebhookRegistrar`); this module decides the URL and the
secret, keeps what was registered on the source, and never returns or logs a secret. The
caller's transaction stores the outcome; an upstream failure stores nothing (502).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.base import ConnectorError, WebhookRegistrar
from schemas.tables import Source
from schemas.types import utcnow
from service.config import Settings
from service.errors import Conflict
from service.security import SecretBox
from service.sources import store
from service.sources.checks import upstream_connector
from service.store.changes import append_change


def webhook_url(settings: Settings, source: Source) -> str:
    if not settings.public_url:
        raise Conflict(
            "PORTFOLIO_SYNC_PUBLIC_URL is not set: the service does not know the address "
            "upstreams should deliver webhooks to"
        )
    return f"{settings.public_url.rstrip('/')}/webhooks/{source.kind}/{source.id}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@asynccontextmanager
async def _registrar(
    box: SecretBox, source: Source, client: httpx.AsyncClient | None
) -> AsyncIterator[WebhookRegistrar]:
    async with upstream_connector(
        box, source, "webhook registration upstream", client=client
    ) as connector:
        assert isinstance(connector, WebhookRegistrar)
        yield connector


def _merge(
    old: list[dict[str, Any]], new: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """Keep when each hook was first registered; stamp when it was last (re)registered."""
    first = {(h.get("target"), h.get("upstream_id")): h.get("registered_at") for h in old}
    stamp = now.isoformat()
    return [
        hook
        | {
            "registered_at": first.get((hook["target"], hook["upstream_id"])) or stamp,
            "updated_at": stamp,
        }
        for hook in new
    ]


async def _record(
    session: AsyncSession, source: Source, what: dict[str, Any], *, cause: str
) -> None:
    """Flush the source and say in the change feed what changed (never a secret's value)."""
    assert source.id is not None
    source.updated_at = utcnow()
    session.add(source)
    await session.flush()
    await append_change(session, "source.updated", "source", source.id, cause=cause, after=what)


def _summary(source: Source) -> list[dict[str, Any]]:
    return [{k: h.get(k) for k in ("target", "upstream_id")} for h in source.webhooks or []]


async def register(
    session: AsyncSession,
    box: SecretBox,
    settings: Settings,
    source: Source,
    *,
    cause: str,
    client: httpx.AsyncClient | None = None,
) -> Source:
    """Register (or update, found by URL) every hook of the source with its secret.

    A source without a webhook secret gets a generated one first: a hook without a secret
    could not be verified, so the receiver would refuse every delivery.
    """
    url = webhook_url(settings, source)
    if source.kind == "jira" and "oauth_token" in store.credentials_of(box, source):
        raise Conflict(
            "Jira admin webhooks are registered with basic auth (a Jira administrator's email "
            "and API token); this source uses OAuth: register the webhook in Jira's admin "
            "screen instead"
        )
    secret = store.webhook_secret_of(box, source)
    what: dict[str, Any] = {}
    if secret is None:
        secret = new_secret()
        source.webhook_secret_encrypted = box.encrypt(secret)
        what["secrets_changed"] = ["webhook_secret"]
    async with _registrar(box, source, client) as registrar:
        hooks = await registrar.register_webhooks(url, secret)
        # Hooks of targets the scope no longer holds (a repository removed since) go too.
        kept = {(h["target"], h["upstream_id"]) for h in hooks}
        stale = [h for h in source.webhooks or [] if (h["target"], h["upstream_id"]) not in kept]
        if stale:
            await registrar.unregister_webhooks(stale)
            what["webhooks_removed"] = [
                {k: h.get(k) for k in ("target", "upstream_id")} for h in stale
            ]
    source.webhooks = _merge(source.webhooks or [], hooks, utcnow())
    if source.webhook_health is None:
        source.webhook_health = "ok"
    await _record(session, source, {"webhooks": _summary(source), **what}, cause=cause)
    return source


async def unregister(
    session: AsyncSession,
    box: SecretBox,
    source: Source,
    *,
    cause: str,
    client: httpx.AsyncClient | None = None,
) -> int:
    """Delete what was registered; the count still present upstream (others were gone)."""
    hooks = list(source.webhooks or [])
    if not hooks:
        return 0
    async with _registrar(box, source, client) as registrar:
        removed = await registrar.unregister_webhooks(hooks)
    source.webhooks = []
    source.webhook_health = None
    source.webhook_health_reason = None
    await _record(session, source, {"webhooks": []}, cause=cause)
    return removed


async def rotate_secret(
    session: AsyncSession,
    box: SecretBox,
    settings: Settings,
    source: Source,
    *,
    cause: str,
    now: datetime | None = None,
    client: httpx.AsyncClient | None = None,
) -> Source:
    """Set a new secret on every registered hook; the old one stays valid for the grace window.

    When a hook refuses the new secret, the hooks already changed get the old one back and
    nothing is stored, so the source and its hooks keep agreeing.
    """
    hooks = list(source.webhooks or [])
    if not hooks:
        raise Conflict(
            "this source has no registered webhooks; register them first "
            f"(POST /api/v1/admin/sources/{source.id}/webhooks)"
        )
    old = store.webhook_secret_of(box, source)
    secret = new_secret()
    done: list[dict[str, Any]] = []
    async with _registrar(box, source, client) as registrar:
        try:
            for hook in hooks:
                await registrar.set_webhook_secret([hook], secret)
                done.append(hook)
        except ConnectorError:
            if old is not None and done:
                await registrar.set_webhook_secret(done, old)
            raise
    now = now or utcnow()
    if old is not None:
        source.webhook_secret_previous_encrypted = box.encrypt(old)
        grace = timedelta(seconds=settings.webhook_secret_grace_seconds)
        source.webhook_secret_previous_until = now + grace
    source.webhook_secret_encrypted = box.encrypt(secret)
    await _record(session, source, {"secrets_changed": ["webhook_secret"]}, cause=cause)
    return source
