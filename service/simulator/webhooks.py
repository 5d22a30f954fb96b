"""Signed webhook emission for mutations (WIRE_FORMATS §2 and §5).

GitHub: an `issues` event per change, `X-Hub-Signature-256` (and legacy `X-Hub-Signature`)
over the exact bytes sent, a fresh `X-GitHub-Delivery` GUID per event that a redelivery keeps.
Jira: `jira:issue_*` with the v2 issue representation, epoch-ms `timestamp`,
`X-Atlassian-Webhook-Identifier`, and `X-Hub-Signature: sha256=...` when a secret is set.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import httpx

from service.simulator import github_render as gh
from service.simulator import jira_render as jr
from service.simulator.mutations import Change
from service.simulator.responses import dumps
from service.simulator.state import Delivery, SimulatorState


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _guid(state: SimulatorState) -> str:
    return str(uuid.UUID(int=state.webhook_rng.getrandbits(128), version=4))


def github_delivery(state: SimulatorState, change: Change, root: str) -> tuple[str, Delivery]:
    config, data = state.config, state.github
    base = root + "/github"
    issue = change.issue
    repo = data.repos[issue.repo]
    payload: dict[str, Any] = {
        "action": change.event,
        "issue": gh.issue(base, data, issue),
    }
    if "changes" in change.details:
        payload["changes"] = change.details["changes"]
    if "label" in change.details:
        label = change.details["label"]
        payload["label"] = (
            gh.custom_label(base, data, repo, label)
            if isinstance(label, str)
            else gh.label(base, data, repo, label)
        )
    payload["repository"] = gh.repository(base, data, repo)
    payload["organization"] = gh.organization(base, data)
    payload["sender"] = change.details.get("sender") or gh.user(base, issue.author)
    body = dumps(payload)
    delivery_id = _guid(state)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Hook-ID": str(config.github_hook_id),
        "X-GitHub-Hook-Installation-Target-Type": "organization",
        "X-GitHub-Hook-Installation-Target-ID": str(data.org_id),
    }
    if config.github_webhook_secret:
        secret = config.github_webhook_secret.encode()
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(secret, body, hashlib.sha1).hexdigest()
        headers["X-Hub-Signature-256"] = signature(config.github_webhook_secret, body)
    url = f"{config.webhook_target}/webhooks/github/{config.github_source_id}"
    return delivery_id, Delivery("github", url, headers, body)


def jira_delivery(state: SimulatorState, change: Change, root: str) -> tuple[str, Delivery]:
    config, data = state.config, state.jira
    site = root + "/jira"
    issue = change.issue
    fields = jr.ALL_FIELDS | {"key"}
    type_name = change.details.get("type_name") or change.event.split(":", 1)[1]
    payload: dict[str, Any] = {
        "timestamp": state.clock.now_ms,
        "webhookEvent": change.event,
        "issue_event_type_name": type_name,
        "user": change.details.get("user")
        or jr.jira_user(site, "2", issue.reporter, config.jira_time_zone),
        "issue": jr.issue_json(site, data, issue, fields, state.tz, v2=True),
    }
    if "property" in change.details:
        # issue_property_set: the property set, beside the issue it belongs to.
        payload["property"] = change.details["property"]
        del payload["issue_event_type_name"]
    if change.details.get("items"):
        payload["changelog"] = {
            "id": str(state.clock.now_ms // 1000),
            "items": change.details["items"],
        }
    body = dumps(payload)
    delivery_id = _guid(state)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Atlassian Webhook HTTP Client",
        "X-Atlassian-Webhook-Identifier": delivery_id,
        "X-Atlassian-Webhook-Flow": "Primary",
    }
    if config.jira_webhook_secret:
        headers["X-Hub-Signature"] = signature(config.jira_webhook_secret, body)
    url = f"{config.webhook_target}/webhooks/jira/{config.jira_source_id}"
    return delivery_id, Delivery("jira", url, headers, body)


async def send(state: SimulatorState, delivery: Delivery, retry: bool = False) -> int | str:
    headers = dict(delivery.headers)
    if retry and delivery.upstream == "jira":
        headers["X-Atlassian-Webhook-Retry"] = str(delivery.attempts - 1)
    try:
        async with httpx.AsyncClient(
            transport=state.config.webhook_transport, timeout=state.config.webhook_timeout
        ) as client:
            response = await client.post(delivery.url, content=delivery.body, headers=headers)
    except httpx.HTTPError as exc:
        state.stats.webhooks[f"{delivery.upstream}:error"] += 1
        return type(exc).__name__
    state.stats.webhooks[f"{delivery.upstream}:{response.status_code}"] += 1
    return response.status_code


async def emit(state: SimulatorState, changes: list[Change], root: str) -> list[dict[str, Any]]:
    """Deliver one event per change, in order; a failed delivery is reported, not retried."""
    if not state.config.webhook_target:
        return []
    results = []
    for change in changes:
        build = github_delivery if change.upstream == "github" else jira_delivery
        delivery_id, delivery = build(state, change, root)
        state.remember_delivery(delivery_id, delivery)
        status = await send(state, delivery)
        event = change.event if change.upstream == "jira" else f"issues.{change.event}"
        results.append(
            {"delivery_id": delivery_id, "event": event, "key": change.key, "status": status}
        )
    return results


async def redeliver(state: SimulatorState, delivery_id: str) -> int | str | None:
    delivery = state.deliveries.get(delivery_id)
    if delivery is None:
        return None
    delivery.attempts += 1
    return await send(state, delivery, retry=True)
