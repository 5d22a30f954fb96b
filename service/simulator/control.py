"""`/_sim/*`: drive the simulator (mutate, faults) and read it (truth, stats)."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel

from service.simulator import webhooks
from service.simulator.faults import FaultsIn
from service.simulator.github import StateDep
from service.simulator.jira_render import jira_time
from service.simulator.mutations import Change, MutateIn, MutationError, apply
from service.simulator.responses import dumps
from service.simulator.state import gc_paused
from service.simulator.truth import truth

router = APIRouter(prefix="/_sim", tags=["simulator control"])


class RedeliverIn(BaseModel):
    delivery_id: str


class RateLimitIn(BaseModel):
    limit: int | None = None
    window: float | None = None


_GROUPS = {"update": "updated", "create": "created", "delete": "deleted", "move": "moved"}


def _grouped(changes: list[Change], actions: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {_GROUPS[a]: [] for a in actions}
    for change in changes:
        out[_GROUPS[change.action]].append(change.summary())
    return out


@router.post("/mutate")
async def mutate(request: Request, state: StateDep, body: MutateIn) -> dict[str, Any]:
    try:
        gh_changes, jira_changes = apply(state, body)
    except MutationError as exc:
        raise HTTPException(422, str(exc)) from None
    root = str(request.base_url).rstrip("/")
    deliveries = await webhooks.emit(state, gh_changes + jira_changes, root)
    return {
        "github": _grouped(gh_changes, ("update", "create", "delete")),
        "jira": _grouped(jira_changes, ("update", "create", "delete", "move")),
        "clock": jira_time(state.clock.now_ms, state.tz),
        "webhooks": deliveries,
    }


@router.get("/truth")
async def get_truth(state: StateDep, include_deleted: bool = False) -> Response:
    """The canonical rows (see `truth.py`); raw JSON because 200k rows through FastAPI's
    encoder take seconds."""
    with gc_paused():
        body = dumps(truth(state.github, state.jira, include_deleted))
    return Response(body, media_type="application/json")


@router.get("/stats")
async def get_stats(state: StateDep) -> dict[str, Any]:
    out = state.stats.snapshot()
    out["rate_limit"] = {
        "core": state.core.headers(),
        "graphql": state.graphql.headers(),
    }
    out["faults"] = state.faults.describe()
    return out


@router.post("/stats/reset")
async def reset_stats(state: StateDep) -> dict[str, str]:
    state.stats.reset()
    return {"status": "reset"}


@router.post("/faults")
async def set_faults(state: StateDep, body: FaultsIn) -> dict[str, Any]:
    state.faults.configure(body, state.config.seed)
    return state.faults.describe()


@router.post("/faults/clear")
async def clear_faults(state: StateDep) -> dict[str, Any]:
    state.faults.clear()
    state.windows.clear()
    return state.faults.describe()


@router.post("/ratelimit")
async def set_rate_limit(state: StateDep, body: RateLimitIn) -> dict[str, Any]:
    """Change the GitHub budget (both pools) at runtime; the window restarts if given."""
    for budget in (state.core, state.graphql):
        budget.configure(body.limit, body.window)
    return {"core": state.core.headers(), "graphql": state.graphql.headers()}


@router.post("/webhooks/redeliver")
async def redeliver(state: StateDep, body: RedeliverIn) -> dict[str, Any]:
    status = await webhooks.redeliver(state, body.delivery_id)
    if status is None:
        raise HTTPException(404, "unknown delivery id")
    return {"delivery_id": body.delivery_id, "status": status}


@router.get("/github/app")
async def github_app(state: StateDep) -> dict[str, Any]:
    """The simulated App's id, installation and private key (to configure a source with)."""
    app = state.app
    return {
        "app_id": app.app_id,
        "installation_id": app.installation_id,
        "private_key": app.private_pem,
        "tokens_issued": app.exchanges,
    }


@router.post("/github/app/expire-tokens")
async def expire_tokens(state: StateDep) -> dict[str, Any]:
    """Every installation token issued so far answers 401 from now on."""
    return {"expired": state.app.expire_tokens()}


class SilenceIn(BaseModel):
    upstream: Literal["github", "jira"]
    silenced: bool = True


@router.post("/webhooks/silence")
async def silence(state: StateDep, body: SilenceIn) -> dict[str, Any]:
    """Registered hooks of `upstream` stay listed but receive nothing (a hook gone quiet)."""
    if body.silenced:
        state.hooks.silenced.add(body.upstream)
    else:
        state.hooks.silenced.discard(body.upstream)
    return {"silenced": sorted(state.hooks.silenced)}


@router.get("/hooks")
async def registered_hooks(state: StateDep) -> list[dict[str, Any]]:
    """Registered hooks; the secret only as a SHA-256 fingerprint."""
    return [
        {
            "id": h.id,
            "owner": h.owner,
            "url": h.url,
            "events": h.events,
            "active": h.active,
            "jql": h.jql,
            "secret_sha256": hashlib.sha256(h.secret.encode()).hexdigest() if h.secret else None,
        }
        for h in state.hooks.hooks.values()
    ]
