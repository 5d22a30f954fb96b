"""Jira admin webhooks (`/rest/webhooks/1.0/webhook`): register, update the secret, delete.

Needs basic auth as a Jira administrator. One webhook per source, found by its URL, filtered by
the source's scope as JQL, for issue created/updated/deleted events. The secret is write-only.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.base import FatalUpstreamError
from connectors.http import HttpExecutor
from connectors.jira.client import JiraRequests

EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")


def hook_id(webhook: dict[str, Any]) -> int | None:
    """Jira answers with `self` (`…/webhook/10`); the id is its last segment."""
    raw = webhook.get("id") or str(webhook.get("self") or "").rstrip("/").rsplit("/", 1)[-1]
    return int(raw) if str(raw).isdigit() else None


class JiraHooks:
    """Args: the connector's executor, its request builder, and the name hooks are given."""

    def __init__(self, executor: HttpExecutor, requests: JiraRequests, name: str) -> None:
        self.executor = executor
        self.requests = requests
        self.name = name

    def _body(self, url: str, jql: str, secret: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "url": url,
            "events": list(EVENTS),
            "filters": {"issue-related-events-section": jql},
            "excludeBody": False,
        }
        if secret is not None:
            body["secret"] = secret
        return body

    async def _send(self, request: httpx.Request) -> Any:
        return (await self.executor.send(request, context="Jira admin webhooks")).data

    async def ensure(self, url: str, jql: str, secret: str) -> dict[str, Any]:
        listed = await self._send(self.requests.admin_webhook("GET"))
        found = next((w for w in listed or [] if w.get("url") == url), None)
        body = self._body(url, jql, secret)
        if found is None:
            made = await self._send(self.requests.admin_webhook("POST", json=body))
        else:
            made = await self._send(self.requests.admin_webhook("PUT", hook_id(found), body))
        return {
            "target": "jira",
            "upstream_id": hook_id(made or {}),
            "events": list(EVENTS),
            "url": url,
            "jql": jql,
        }

    async def set_secret(self, hook: dict[str, Any], secret: str) -> None:
        body = self._body(hook["url"], hook.get("jql") or "", secret)
        await self._send(self.requests.admin_webhook("PUT", hook["upstream_id"], body))

    async def delete(self, hook: dict[str, Any]) -> bool:
        try:
            await self._send(self.requests.admin_webhook("DELETE", hook["upstream_id"]))
        except FatalUpstreamError as exc:
            if exc.status == 404:
                return False
            raise
        return True
