"""GitHub webhook deliveries: signature check, delivery id, and event → instruction.

`pull_request` events map to the same `pr:<owner>/<repo>#<number>` id the poll path uses (see
`mapping`), so a pull request seen by both paths is one row. `projects_v2_item` events carry only
the content node id, not the issue, so their field changes are applied at the next poll.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.base import Ignore, Tombstone, Upsert, WebhookInstruction
from connectors.github.mapping import (
    GitHubSettings,
    external_id_for,
    issue_number,
    item_key,
    map_issue,
    parse_time,
    pull_request_as_issue,
)

_TOMBSTONE_ACTIONS = frozenset({"deleted", "transferred"})
_PARENT_ADDED = frozenset({"sub_issue_added", "parent_issue_added"})


def verify_signature(secret: str, raw_body: bytes, header: str | None) -> bool:
    """Check `X-Hub-Signature-256` (`sha256=<hex HMAC-SHA256 of the raw body>`)."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    # As bytes: compare_digest refuses str with non-ASCII characters (a hostile header).
    received = header.strip().encode("utf-8", "replace")
    return hmac.compare_digest(f"sha256={expected}".encode(), received)


def delivery_id(headers: Mapping[str, str]) -> str:
    """`<hook id>:<delivery GUID>`: a redelivery repeats it; hooks sharing an event differ."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return f"{lowered.get('x-github-hook-id', '')}:{lowered.get('x-github-delivery', '')}"


def payload_repo(payload: Mapping[str, Any]) -> str | None:
    """`owner/repo` of the delivery, for the receiver's scope check."""
    repository = payload.get("repository") or {}
    name = repository.get("full_name")
    return str(name) if name else None


def parse_event(
    event: str, payload: dict[str, Any], settings: dict[str, Any]
) -> WebhookInstruction:
    """Turn one delivery into an instruction for the single upsert path.

    Raises:
        ValueError: an `issues`/`pull_request`/`sub_issues` payload lacks what mapping needs.
    """
    parsed = GitHubSettings.from_dict(settings)
    action = str(payload.get("action") or "")
    if event == "ping":
        return Ignore("ping")
    if event == "issues":
        return _issues(action, payload, parsed)
    if event == "pull_request":
        pr = payload["pull_request"]
        item = map_issue(pull_request_as_issue(pr), parsed, repo=payload_repo(payload), raw=pr)
        return Upsert(item)
    if event == "sub_issues":
        return _sub_issues(action, payload, parsed)
    if event == "milestone":
        return Ignore(f"milestone {action}: issues carry their milestone title")
    if event == "projects_v2_item":
        return Ignore(f"projects_v2_item {action}: applied at next poll")
    return Ignore(f"{event or 'unknown'} {action}: not handled".replace("  ", " ").strip())


def _issues(
    action: str, payload: Mapping[str, Any], settings: GitHubSettings
) -> WebhookInstruction:
    issue = payload["issue"]
    repo = payload_repo(payload)
    if action in _TOMBSTONE_ACTIONS:
        repo = repo or ""
        return Tombstone(
            external_id=external_id_for(issue, repo),
            key=item_key(repo, issue_number(issue)) if repo else None,
            occurred_at=parse_time(issue.get("updated_at")) or datetime.now(UTC),
        )
    return Upsert(map_issue(issue, settings, repo=repo))


def _sub_issues(
    action: str, payload: Mapping[str, Any], settings: GitHubSettings
) -> WebhookInstruction:
    sub_issue = payload.get("sub_issue")
    if not sub_issue:
        return Ignore(f"sub_issues {action}: no sub_issue in payload")
    sub_repo = (payload.get("sub_issue_repo") or payload.get("repository") or {}).get("full_name")
    item = map_issue(sub_issue, settings, repo=sub_repo)
    parent = payload.get("parent_issue") or {}
    parent_repo = (payload.get("parent_issue_repo") or payload.get("repository") or {}).get(
        "full_name"
    )
    if action in _PARENT_ADDED and parent.get("number") is not None and parent_repo:
        item.parent_key = item_key(parent_repo, parent["number"])
    elif action not in _PARENT_ADDED:
        item.parent_key = None
    return Upsert(item)
