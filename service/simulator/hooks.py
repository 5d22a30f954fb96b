"""Webhook registration: GitHub repository/org hooks CRUD and Jira admin webhooks CRUD.

GitHub (`/github/repos/{o}/{r}/hooks`, `/github/orgs/{org}/hooks`, `…/{id}`): `name` must be
`web`, `config.url` is required, `config.secret` is write-only (listed as `********`); `PATCH`
takes `config`, `events`, `add_events`, `remove_events`, `active`. Jira
(`/jira/rest/webhooks/1.0/webhook`, `…/{id}`): `name`, `url`, `events`, `filters`
(`issue-related-events-section` = JQL), `excludeBody`, and a write-only `secret`.
Every registered hook receives signed deliveries of the mutations it subscribes to (see
`webhooks.emit`), unless its upstream is silenced through `/_sim/webhooks/silence`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from service.simulator.github import StateDep, github_error, require_budget
from service.simulator.github_app import require_valid_token
from service.simulator.hook_registry import Hook
from service.simulator.jira import basic_auth
from service.simulator.responses import GITHUB_JSON, JIRA_JSON, dumps, jira_error
from service.simulator.state import SimulatorState

MASK = "********"


def _stamp(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def github_hook_json(base: str, hook: Hook) -> dict[str, Any]:
    kind, _, name = hook.owner.partition(":")
    prefix = f"{base}/repos/{name}" if kind == "repo" else f"{base}/orgs/{name}"
    return {
        "type": "Repository" if kind == "repo" else "Organization",
        "id": hook.id,
        "name": hook.name,
        "active": hook.active,
        "events": hook.events,
        "config": {
            "content_type": "json",
            "insecure_ssl": "0",
            "url": hook.url,
            **({"secret": MASK} if hook.secret else {}),
        },
        "updated_at": _stamp(hook.updated_at),
        "created_at": _stamp(hook.created_at),
        "url": f"{prefix}/hooks/{hook.id}",
        "ping_url": f"{prefix}/hooks/{hook.id}/pings",
        "deliveries_url": f"{prefix}/hooks/{hook.id}/deliveries",
    }


def _owner(state: SimulatorState, owner: str, repo: str | None) -> str:
    if repo is None:
        if owner.lower() != state.github.org.lower():
            raise github_error(state, 404, "Not Found")
        return f"org:{state.github.org}"
    found = state.github.repo(owner, repo)
    if found is None:
        raise github_error(state, 404, "Not Found")
    return f"repo:{state.github.org}/{found.name}"


def _json(payload: Any, status: int = 200, *, github: bool = True) -> Response:
    media = GITHUB_JSON if github else JIRA_JSON
    return Response(dumps(payload), status, media_type=media)


def _validation(state: SimulatorState, message: str) -> Exception:
    return github_error(state, 422, f"Validation Failed: {message}")


github_router = APIRouter(
    prefix="/github", dependencies=[Depends(require_valid_token), Depends(require_budget)]
)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/github"


async def _list(request: Request, state: SimulatorState, owner: str) -> Response:
    state.core.consume()
    hooks = state.hooks.owned(owner)
    return _json([github_hook_json(_base(request), h) for h in hooks])


async def _create(request: Request, state: SimulatorState, owner: str) -> Response:
    body = await request.json()
    config = body.get("config") or {}
    if body.get("name", "web") != "web" or not config.get("url"):
        raise _validation(state, "config.url is required and name must be 'web'")
    if any(h.url == config["url"] for h in state.hooks.owned(owner)):
        raise _validation(state, "Hook already exists on this repository")
    state.core.consume()
    now = state.app.now()
    hook = state.hooks.add(
        Hook(
            id=state.hooks.next_id,
            owner=owner,
            url=str(config["url"]),
            events=list(body.get("events") or ["push"]),
            secret=config.get("secret") or None,
            active=bool(body.get("active", True)),
            created_at=int(now),
            updated_at=int(now),
        )
    )
    return _json(github_hook_json(_base(request), hook), 201)


def _find(state: SimulatorState, owner: str, hook_id: int) -> Hook:
    hook = state.hooks.hooks.get(hook_id)
    if hook is None or hook.owner != owner:
        raise github_error(state, 404, "Not Found")
    return hook


async def _update(request: Request, state: SimulatorState, owner: str, hook_id: int) -> Response:
    hook = _find(state, owner, hook_id)
    body = await request.json()
    config = body.get("config")
    if config is not None:
        if not config.get("url"):
            raise _validation(state, "config.url is required")
        hook.url = str(config["url"])
        # GitHub keeps the old secret only when the config omits it.
        if "secret" in config:
            hook.secret = config.get("secret") or None
    if body.get("events") is not None:
        hook.events = list(body["events"])
    hook.events += [e for e in body.get("add_events") or [] if e not in hook.events]
    hook.events = [e for e in hook.events if e not in (body.get("remove_events") or [])]
    if "active" in body:
        hook.active = bool(body["active"])
    hook.updated_at = int(state.app.now())
    state.core.consume()
    return _json(github_hook_json(_base(request), hook))


async def _delete(state: SimulatorState, owner: str, hook_id: int) -> Response:
    _find(state, owner, hook_id)
    del state.hooks.hooks[hook_id]
    state.core.consume()
    return Response(status_code=204)


@github_router.get("/repos/{owner}/{repo}/hooks")
async def list_repo_hooks(request: Request, state: StateDep, owner: str, repo: str) -> Response:
    return await _list(request, state, _owner(state, owner, repo))


@github_router.post("/repos/{owner}/{repo}/hooks")
async def create_repo_hook(request: Request, state: StateDep, owner: str, repo: str) -> Response:
    return await _create(request, state, _owner(state, owner, repo))


@github_router.patch("/repos/{owner}/{repo}/hooks/{hook_id}")
async def update_repo_hook(
    request: Request, state: StateDep, owner: str, repo: str, hook_id: int
) -> Response:
    return await _update(request, state, _owner(state, owner, repo), hook_id)


@github_router.delete("/repos/{owner}/{repo}/hooks/{hook_id}")
async def delete_repo_hook(state: StateDep, owner: str, repo: str, hook_id: int) -> Response:
    return await _delete(state, _owner(state, owner, repo), hook_id)


@github_router.get("/orgs/{org}/hooks")
async def list_org_hooks(request: Request, state: StateDep, org: str) -> Response:
    return await _list(request, state, _owner(state, org, None))


@github_router.post("/orgs/{org}/hooks")
async def create_org_hook(request: Request, state: StateDep, org: str) -> Response:
    return await _create(request, state, _owner(state, org, None))


@github_router.patch("/orgs/{org}/hooks/{hook_id}")
async def update_org_hook(request: Request, state: StateDep, org: str, hook_id: int) -> Response:
    return await _update(request, state, _owner(state, org, None), hook_id)


@github_router.delete("/orgs/{org}/hooks/{hook_id}")
async def delete_org_hook(state: StateDep, org: str, hook_id: int) -> Response:
    return await _delete(state, _owner(state, org, None), hook_id)


# Jira admin webhooks ------------------------------------------------------------------------

jira_router = APIRouter(prefix="/jira/rest/webhooks/1.0", dependencies=[Depends(basic_auth)])


def jira_hook_json(site: str, hook: Hook) -> dict[str, Any]:
    return {
        "name": hook.name,
        "url": hook.url,
        "events": hook.events,
        "filters": {"issue-related-events-section": hook.jql or ""},
        "excludeBody": False,
        "enabled": hook.active,
        "self": f"{site}/rest/webhooks/1.0/webhook/{hook.id}",
        "lastUpdated": hook.updated_at * 1000,
    }


def _site(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/jira"


def _jira_fields(state: SimulatorState, body: dict[str, Any]) -> dict[str, Any]:
    from service.simulator.jql import JQLError, compile_jql

    if not body.get("url") or not body.get("name"):
        raise jira_error(400, "The webhook needs a name and a url.")
    jql = (body.get("filters") or {}).get("issue-related-events-section") or None
    if jql:
        try:
            compile_jql(jql, state.jira, state.tz, state.clock.now_ms)
        except JQLError as exc:
            raise jira_error(400, f"Invalid JQL: {exc}") from None
    return {
        "name": str(body["name"]),
        "url": str(body["url"]),
        "events": list(body.get("events") or []),
        "jql": jql,
        "active": bool(body.get("enabled", True)),
    }


@jira_router.get("/webhook")
async def list_jira_hooks(request: Request, state: StateDep) -> Response:
    site = _site(request)
    return _json([jira_hook_json(site, h) for h in state.hooks.owned("jira")], github=False)


@jira_router.post("/webhook")
async def create_jira_hook(request: Request, state: StateDep) -> Response:
    body = await request.json()
    fields = _jira_fields(state, body)
    now = int(state.app.now())
    hook = state.hooks.add(
        Hook(
            id=state.hooks.next_id,
            owner="jira",
            secret=body.get("secret") or None,
            created_at=now,
            updated_at=now,
            **fields,
        )
    )
    return _json(jira_hook_json(_site(request), hook), 201, github=False)


def _jira_hook(state: SimulatorState, hook_id: int) -> Hook:
    hook = state.hooks.hooks.get(hook_id)
    if hook is None or hook.owner != "jira":
        raise jira_error(404, "Webhook not found.")
    return hook


@jira_router.get("/webhook/{hook_id}")
async def get_jira_hook(request: Request, state: StateDep, hook_id: int) -> Response:
    return _json(jira_hook_json(_site(request), _jira_hook(state, hook_id)), github=False)


@jira_router.put("/webhook/{hook_id}")
async def update_jira_hook(request: Request, state: StateDep, hook_id: int) -> Response:
    hook = _jira_hook(state, hook_id)
    body = await request.json()
    for key, value in _jira_fields(state, body).items():
        setattr(hook, key, value)
    if "secret" in body:
        hook.secret = body.get("secret") or None
    hook.updated_at = int(state.app.now())
    return _json(jira_hook_json(_site(request), hook), github=False)


@jira_router.delete("/webhook/{hook_id}")
async def delete_jira_hook(state: StateDep, hook_id: int) -> Response:
    _jira_hook(state, hook_id)
    del state.hooks.hooks[hook_id]
    return Response(status_code=204)
