"""GitHub webhook registration: repository hooks (and the org hook for Projects v2 items).

A hook is found by its `config.url`, so registering twice updates the one hook instead of adding
a second: one `GET …/hooks` and one `POST` (new) or `PATCH` (found) per target. The secret is
sent in `config.secret` and never read back (GitHub shows `********`).
"""

from __future__ import annotations

from typing import Any

from connectors.base import FatalUpstreamError
from connectors.github.client import GitHubClient

REPO_EVENTS = ("issues", "pull_request", "sub_issues")
ORG_EVENTS = ("projects_v2_item",)


def hooks_path(target: str) -> str:
    """`repo:o/r` → `/repos/o/r/hooks`; `org:o` → `/orgs/o/hooks`."""
    kind, _, name = target.partition(":")
    if kind == "repo":
        return f"/repos/{name}/hooks"
    if kind == "org":
        return f"/orgs/{name}/hooks"
    raise ValueError(f"unknown GitHub hook target {target!r}")


def _config(url: str, secret: str) -> dict[str, str]:
    return {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}


async def ensure_hook(
    client: GitHubClient, target: str, url: str, secret: str, events: tuple[str, ...]
) -> dict[str, Any]:
    """Create the hook at `url` on `target`, or update the one already there (found by URL)."""
    path = hooks_path(target)
    existing = await client.list_all(path, context=f"hooks of {target}")
    found = next((h for h in existing if (h.get("config") or {}).get("url") == url), None)
    body = {"active": True, "events": list(events), "config": _config(url, secret)}
    if found is None:
        request = client.request("POST", path, json={"name": "web", **body})
    else:
        request = client.request("PATCH", f"{path}/{found['id']}", json=body)
    hook = (await client.send(request, context=f"hooks of {target}")).data or {}
    return {
        "target": target,
        "upstream_id": hook.get("id"),
        "events": hook.get("events"),
        "url": url,
    }


async def set_hook_secret(client: GitHubClient, hook: dict[str, Any], secret: str) -> None:
    path = f"{hooks_path(hook['target'])}/{hook['upstream_id']}"
    request = client.request("PATCH", path, json={"config": _config(hook["url"], secret)})
    await client.send(request, context=f"hook {hook['upstream_id']} of {hook['target']}")


async def delete_hook(client: GitHubClient, hook: dict[str, Any]) -> bool:
    """Delete one hook; False when it was already gone upstream (404)."""
    path = f"{hooks_path(hook['target'])}/{hook['upstream_id']}"
    try:
        await client.send(client.request("DELETE", path), context=f"hooks of {hook['target']}")
    except FatalUpstreamError as exc:
        if exc.status == 404:
            return False
        raise
    return True
