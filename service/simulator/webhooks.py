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
from dataclasses import dataclass
from typing import Any

import httpx

from service.simulator import github_render as gh
from service.simulator import jira_custom_fields as custom_fields
from service.simulator import jira_render as jr
from service.simulator.jql import JQLError, compile_jql
from service.simulator.mutations import Change
from service.simulator.responses import dumps
from service.simulator.state import Delivery, SimulatorState


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _guid(state: SimulatorState) -> str:
    return str(uuid.UUID(int=state.webhook_rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class Target:
    """Where one event goes: URL, signing secret, and (GitHub) the hook id."""

    url: str
    secret: str | None
    hook_id: int
    target_type: str = "organization"


def github_body(state: SimulatorState, change: Change, root: str) -> bytes:
    if "payload" in change.details:
        return dumps(change.details["payload"])  # events about something other than an issue
    data = state.github
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
    return dumps(payload)


def github_delivery(
    state: SimulatorState, body: bytes, delivery_id: str, target: Target, event: str = "issues"
) -> Delivery:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Hook-ID": str(target.hook_id),
        "X-GitHub-Hook-Installation-Target-Type": target.target_type,
        "X-GitHub-Hook-Installation-Target-ID": str(state.github.org_id),
    }
    if target.secret:
        secret = target.secret.encode()
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(secret, body, hashlib.sha1).hexdigest()
        headers["X-Hub-Signature-256"] = signature(target.secret, body)
    return Delivery("github", target.url, headers, body)


def jira_body(state: SimulatorState, change: Change, root: str) -> bytes:
    config, data = state.config, state.jira
    site = root + "/jira"
    issue = change.issue
    fields = jr.ALL_FIELDS | {"key"} | set(custom_fields.NAMES)  # webhooks carry every field
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
    return dumps(payload)


def jira_delivery(body: bytes, delivery_id: str, target: Target) -> Delivery:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Atlassian Webhook HTTP Client",
        "X-Atlassian-Webhook-Identifier": delivery_id,
        "X-Atlassian-Webhook-Flow": "Primary",
    }
    if target.secret:
        headers["X-Hub-Signature"] = signature(target.secret, body)
    return Delivery("jira", target.url, headers, body)


def _configured_target(state: SimulatorState, upstream: str) -> Target | None:
    config = state.config
    if not config.webhook_target:
        return None
    if upstream == "github":
        url = f"{config.webhook_target}/webhooks/github/{config.github_source_id}"
        return Target(url, config.github_webhook_secret, config.github_hook_id)
    url = f"{config.webhook_target}/webhooks/jira/{config.jira_source_id}"
    return Target(url, config.jira_webhook_secret, 0)


def _jql_matches(state: SimulatorState, jql: str | None, issue: Any) -> bool:
    if not jql:
        return True
    try:
        return compile_jql(jql, state.jira, state.tz, state.clock.now_ms).predicate(issue)
    except JQLError:
        return False


def _github_event(change: Change) -> str:
    return str(change.details.get("github_event", "issues"))


def targets(state: SimulatorState, change: Change) -> list[Target]:
    """The configured receiver (if any), then every active registered hook that subscribes."""
    found = [t for t in [_configured_target(state, change.upstream)] if t is not None]
    if change.upstream in state.hooks.silenced:
        return found
    if change.upstream == "github":
        repo = state.github.repos[change.issue.repo]
        event = _github_event(change)
        owners = {f"org:{state.github.org}": "organization"}
        if event == "issues":  # projects_v2_item goes to org hooks only, as on GitHub
            owners[f"repo:{state.github.org}/{repo.name}"] = "repository"
        for hook in state.hooks.hooks.values():
            if hook.owner in owners and hook.active and event in hook.events:
                found.append(Target(hook.url, hook.secret, hook.id, owners[hook.owner]))
        return found
    for hook in state.hooks.owned("jira"):
        if (
            hook.active
            and change.event in hook.events
            and _jql_matches(state, hook.jql, change.issue)
        ):
            found.append(Target(hook.url, hook.secret, hook.id))
    return found


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
    """Deliver each change to every target, in order; a failed delivery is reported, not retried.

    A GitHub event keeps one GUID across the hooks it goes to (as GitHub does); each Jira
    delivery gets its own identifier.
    """
    results = []
    for change in changes:
        hooks = targets(state, change)
        if not hooks:
            continue
        github_event = _github_event(change)
        event = change.event if change.upstream == "jira" else f"{github_event}.{change.event}"
        if change.upstream == "github":
            body, guid = github_body(state, change, root), _guid(state)
        else:
            body = jira_body(state, change, root)
        for target in hooks:
            if change.upstream == "github":
                delivery = github_delivery(state, body, guid, target, github_event)
                delivery_id = guid
                key = f"{target.hook_id}:{guid}"
            else:
                delivery_id = key = _guid(state)
                delivery = jira_delivery(body, delivery_id, target)
            state.remember_delivery(key if len(hooks) > 1 else delivery_id, delivery)
            status = await send(state, delivery)
            results.append(
                {
                    "delivery_id": delivery_id,
                    "event": event,
                    "key": change.key,
                    "status": status,
                    "hook_id": target.hook_id,
                }
            )
    return results


async def redeliver(state: SimulatorState, delivery_id: str) -> int | str | None:
    delivery = state.deliveries.get(delivery_id)
    if delivery is None:
        return None
    delivery.attempts += 1
    return await send(state, delivery, retry=True)
