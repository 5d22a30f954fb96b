"""Jira admin-webhook support: signature check, delivery id and event → instruction.

Webhook payloads carry custom fields by id, so `parse_event` needs the ids discovery found. The
service stores them in the source settings under `story_points_field`, `sprint_field` and
`epic_link_field` (see `fields.field_settings`) and passes those settings here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.base import Ignore, Tombstone, Upsert, WebhookInstruction
from connectors.jira.mapping import config_from_settings, issue_identity, map_issue

SIGNATURE_HEADER = "X-Hub-Signature"
DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"

_UPSERT_EVENTS = frozenset({"jira:issue_created", "jira:issue_updated"})
_DELETE_EVENT = "jira:issue_deleted"


def verify_signature(secret: str, raw_body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature: sha256=<hex>` = HMAC-SHA256(secret, raw body); only sha256 accepted."""
    if not secret or not header:
        return False
    method, sep, received = header.strip().partition("=")
    if not sep or method.strip().lower() != "sha256":
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    # As bytes: compare_digest refuses str with non-ASCII characters (a hostile header).
    return hmac.compare_digest(
        expected.encode(), received.strip().lower().encode("utf-8", "replace")
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def delivery_id(headers: Mapping[str, str], raw_body: bytes) -> str:
    """The retry-stable delivery id, else a body hash so identical redeliveries still dedupe."""
    identifier = _header(headers, DELIVERY_HEADER)
    if identifier and identifier.strip():
        return identifier.strip()
    return "sha256:" + hashlib.sha256(raw_body).hexdigest()


def payload_project(payload: Mapping[str, Any]) -> str | None:
    issue = payload.get("issue") or {}
    project = (issue.get("fields") or {}).get("project") or {}
    key = project.get("key")
    return str(key) if key else None


def _occurred_at(payload: Mapping[str, Any]) -> datetime | None:
    timestamp = payload.get("timestamp")
    if isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        return datetime.fromtimestamp(timestamp / 1000, tz=UTC)
    return None


def parse_event(
    payload: Mapping[str, Any],
    settings: Mapping[str, Any],
    *,
    site_url: str | None = None,
) -> WebhookInstruction:
    """Created/updated → Upsert (same mapping as polling); deleted → Tombstone; else Ignore.

    Raises FatalUpstreamError (from the mapping) when an issue event lacks id, key or updated.
    """
    event = str(payload.get("webhookEvent") or "")
    issue = payload.get("issue")
    if event not in _UPSERT_EVENTS and event != _DELETE_EVENT:
        return Ignore(reason=f"event {event or '(none)'} does not change work items")
    if not isinstance(issue, Mapping) or not issue.get("id"):
        return Ignore(reason=f"{event} without an issue id")
    if event == _DELETE_EVENT:
        issue_id, key = issue_identity(issue)
        return Tombstone(
            external_id=issue_id,
            key=key,
            occurred_at=_occurred_at(payload),
        )
    return Upsert(item=map_issue(issue, config_from_settings(settings, site_url=site_url)))
