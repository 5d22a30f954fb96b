"""Sources: create, list, read, update, delete. Credentials are encrypted before they are stored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from connectors.github.app import APP_CREDENTIALS, check_private_key
from connectors.registry import build_connector
from schemas.api.sources import (
    RegisteredWebhook,
    RunPublic,
    SourceCreate,
    SourcePublic,
    SourceUpdate,
)
from schemas.enums import SourceKind
from schemas.tables import Source, SyncRun
from schemas.types import utcnow
from service.errors import Conflict, NotFound, Unprocessable
from service.portfolio import touches
from service.security import SecretBox
from service.store.changes import append_change, diff
from service.store.pagination import paginate

# What the change feed shows of a source: never the encrypted columns.
_FEED_FIELDS = ("kind", "name", "base_url", "scope", "settings", "poll_interval_seconds", "enabled")
# Jira settings that discovery fills in unless the admin set them.
JIRA_FIELD_SETTINGS = ("story_points_field", "sprint_field", "epic_link_field")


def _invalid(loc: Sequence[str], message: str) -> Unprocessable:
    return Unprocessable(
        f"{'.'.join(loc)}: {message}",
        errors=[{"loc": ["body", *loc], "msg": message, "type": "value_error"}],
    )


def _text(credentials: Mapping[str, Any], key: str) -> bool:
    value = credentials.get(key)
    return isinstance(value, str) and bool(value.strip()) and "\x00" not in value


def _github_app_credentials(credentials: Mapping[str, Any]) -> dict[str, str]:
    """App id, PEM key and optional installation id; a 422 names the bad field (never its value)."""
    for key in ("app_id", "private_key"):
        if not _text(credentials, key):
            raise _invalid(["credentials", key], "a non-empty string is required for a GitHub App")
    if not str(credentials["app_id"]).strip().isdigit():
        raise _invalid(["credentials", "app_id"], "the App id is a positive integer")
    try:
        check_private_key(str(credentials["private_key"]).strip())
    except ValueError as exc:
        raise _invalid(["credentials", "private_key"], str(exc)) from exc
    installation = credentials.get("installation_id")
    if installation is not None and not str(installation).strip().isdigit():
        raise _invalid(["credentials", "installation_id"], "a positive integer is required")
    extra = sorted(set(credentials) - set(APP_CREDENTIALS))
    if extra:
        raise _invalid(["credentials", extra[0]], "unknown credential for a GitHub App")
    found = {key: str(credentials[key]).strip() for key in ("app_id", "private_key")}
    if installation is not None:
        found["installation_id"] = str(installation).strip()
    return found


def validate_credentials(kind: str, credentials: Mapping[str, Any]) -> dict[str, str]:
    """The credentials a kind needs, as strings; a 422 names the missing field."""
    github_app = any(key in credentials for key in APP_CREDENTIALS)
    if kind == SourceKind.github and "token" not in credentials and github_app:
        return _github_app_credentials(credentials)
    if kind == SourceKind.github:
        needed: tuple[str, ...] = ("token",)
    elif _text(credentials, "oauth_token") or _text(credentials, "cloud_id"):
        needed = ("oauth_token", "cloud_id")
    else:
        needed = ("email", "api_token")
    for key in needed:
        if not _text(credentials, key):
            hint = (
                " (or a GitHub App's `app_id` + `private_key`)"
                if kind == SourceKind.github
                else " (or `oauth_token` + `cloud_id`)"
            )
            raise _invalid(["credentials", key], f"a non-empty string is required{hint}")
    extra = sorted(set(credentials) - set(needed))
    if extra:
        raise _invalid(["credentials", extra[0]], f"unknown credential for {kind}")
    return {key: str(credentials[key]).strip() for key in needed}


async def validate_config(
    kind: str, base_url: str, credentials: Mapping[str, Any], scope: Mapping[str, Any]
) -> None:
    """Let the connector judge the scope and settings without sending a request."""
    async with httpx.AsyncClient() as client:
        try:
            connector = build_connector(
                kind, base_url=base_url, credentials=credentials, scope=scope, client=client
            )
        except ValueError as exc:
            raise _invalid(["scope"], str(exc)) from exc
        await connector.aclose()


def _snapshot(source: Source) -> dict[str, Any]:
    return {k: getattr(source, k) for k in _FEED_FIELDS}


async def find_by_name(session: AsyncSession, name: str) -> Source | None:
    result = await session.execute(select(Source).where(col(Source.name) == name))
    return result.scalars().first()


async def get(session: AsyncSession, source_id: int) -> Source:
    source = await session.get(Source, source_id)
    if source is None:
        raise NotFound(f"source {source_id} does not exist")
    return source


async def _check_name_free(session: AsyncSession, name: str, source_id: int | None) -> None:
    existing = await find_by_name(session, name)
    if existing is not None and existing.id != source_id:
        raise Conflict(f"a source named {name!r} already exists (id {existing.id})")


async def create(
    session: AsyncSession, box: SecretBox, body: SourceCreate, *, cause: str
) -> Source:
    credentials = validate_credentials(body.kind, body.credentials)
    await validate_config(body.kind, body.base_url, credentials, body.scope)
    await _check_name_free(session, body.name, None)
    source = Source(
        kind=body.kind.value,
        name=body.name,
        base_url=body.base_url.rstrip("/"),
        credentials_encrypted=box.encrypt_json(credentials),
        auth=_auth_of(credentials),
        webhook_secret_encrypted=box.encrypt(body.webhook_secret) if body.webhook_secret else None,
        scope=body.scope,
        settings=body.settings,
        poll_interval_seconds=body.poll_interval_seconds,
        enabled=body.enabled,
    )
    session.add(source)
    await session.flush()
    assert source.id is not None
    await append_change(
        session, "source.created", "source", source.id, cause=cause, after=_snapshot(source)
    )
    return source


async def update(
    session: AsyncSession, box: SecretBox, source: Source, body: SourceUpdate, *, cause: str
) -> Source:
    changes = body.model_dump(exclude_unset=True)
    before = _snapshot(source)
    secrets_changed: list[str] = []
    if "name" in changes and changes["name"] is not None:
        await _check_name_free(session, changes["name"], source.id)
    credentials = (
        validate_credentials(source.kind, changes.pop("credentials"))
        if changes.get("credentials") is not None
        else credentials_of(box, source)
    )
    changes.pop("credentials", None)
    for key in ("name", "base_url", "scope", "settings", "poll_interval_seconds", "enabled"):
        if changes.get(key) is None:
            changes.pop(key, None)
    if "base_url" in changes:
        changes["base_url"] = changes["base_url"].rstrip("/")
    await validate_config(
        source.kind,
        changes.get("base_url", source.base_url),
        credentials,
        changes.get("scope", source.scope),
    )
    if body.credentials is not None:
        source.credentials_encrypted = box.encrypt_json(credentials)
        source.auth = _auth_of(credentials)
        secrets_changed.append("credentials")
    if "webhook_secret" in changes:
        secret = changes.pop("webhook_secret")
        source.webhook_secret_encrypted = box.encrypt(secret) if secret else None
        secrets_changed.append("webhook_secret")
    for key, value in changes.items():
        setattr(source, key, value)
    old, new = diff(before, _snapshot(source))
    if new or secrets_changed:
        source.updated_at = utcnow()
        session.add(source)
        await session.flush()
        assert source.id is not None
        # Which secrets changed is recorded; their values never are.
        after = new | ({"secrets_changed": secrets_changed} if secrets_changed else {})
        await append_change(
            session, "source.updated", "source", source.id, cause=cause, before=old, after=after
        )
    return source


async def delete(session: AsyncSession, source: Source, *, cause: str) -> None:
    assert source.id is not None
    before = _snapshot(source)
    source_id = source.id
    await session.delete(source)
    await session.flush()
    await append_change(session, "source.deleted", "source", source_id, cause=cause, before=before)
    # Its items left with it: rollups are rebuilt and every node is re-evaluated (rare).
    from service.rules import membership  # late: the rules package reads sources

    await membership.rebuild(session)
    await touches.everything(session, cause)


async def list_page(
    session: AsyncSession, *, limit: int, cursor: str | None
) -> tuple[Sequence[Source], str | None]:
    return await paginate(session, select(Source), col(Source.id), limit=limit, cursor=cursor)


def credentials_of(box: SecretBox, source: Source) -> dict[str, Any]:
    """Decrypted credentials, for in-memory use only (connectors); never logged or returned."""
    if not source.credentials_encrypted:
        return {}
    return box.decrypt_json(source.credentials_encrypted)


def webhook_secret_of(box: SecretBox, source: Source) -> str | None:
    if not source.webhook_secret_encrypted:
        return None
    return box.decrypt(source.webhook_secret_encrypted)


def apply_discovery(source: Source, discovered: dict[str, Any]) -> None:
    """Keep what discovery found; for Jira, fill the field settings the admin left unset."""
    source.discovered = discovered
    found = discovered.get("settings")
    if source.kind == SourceKind.jira and isinstance(found, dict):
        settings = dict(source.settings)
        for key in JIRA_FIELD_SETTINGS:
            if key not in settings and key in found:
                settings[key] = found[key]
        source.settings = settings


async def last_run(session: AsyncSession, source_id: int) -> SyncRun | None:
    result = await session.execute(
        select(SyncRun)
        .where(col(SyncRun.source_id) == source_id)
        .order_by(col(SyncRun.id).desc())
        .limit(1)
    )
    return result.scalars().first()


def next_run_at(source: Source, last: SyncRun | None) -> datetime | None:
    if not source.enabled:
        return None
    if last is None:
        return utcnow()
    return (last.started_at or last.created_at) + timedelta(seconds=source.poll_interval_seconds)


def to_public(source: Source, last: SyncRun | None, *, now: datetime | None = None) -> SourcePublic:
    assert source.id is not None
    now = now or utcnow()
    success = source.last_success_at
    return SourcePublic(
        id=source.id,
        kind=SourceKind(source.kind),
        name=source.name,
        base_url=source.base_url,
        scope=source.scope,
        settings=source.settings,
        poll_interval_seconds=source.poll_interval_seconds,
        enabled=source.enabled,
        credentials_set=bool(source.credentials_encrypted),
        webhook_secret_set=bool(source.webhook_secret_encrypted),
        created_at=source.created_at,
        updated_at=source.updated_at,
        last_success_at=success,
        lag_seconds=(now - success).total_seconds() if success else None,
        last_reconcile_at=source.last_reconcile_at,
        next_run_at=next_run_at(source, last),
        rate_limit=source.rate_limit,
        discovered=source.discovered,
        auth=auth_method(source),
        webhooks=[RegisteredWebhook.model_validate(h) for h in source.webhooks or []],
        last_delivery_at=source.last_delivery_at,
        webhook_health=source.webhook_health,
        webhook_health_reason=source.webhook_health_reason,
        previous_webhook_secret_valid_until=_grace_end(source, now),
        last_run=RunPublic.model_validate(last) if last else None,
    )


def _grace_end(source: Source, now: datetime) -> datetime | None:
    until = source.webhook_secret_previous_until
    return until if until is not None and until > now else None


def auth_method(source: Source) -> str:
    return source.auth or "token"


def _auth_of(credentials: Mapping[str, Any]) -> str:
    return "github_app" if "app_id" in credentials else "token"
