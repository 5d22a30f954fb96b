"""Admin: webhooks the service registers upstream for a source, and webhook secret rotation."""

from fastapi import APIRouter, Request

from schemas.api.sources import SourcePublic, WebhookRemoval
from service.api.deps import (
    AdminDep,
    PathId,
    SecretBoxDep,
    SessionDep,
    SettingsDep,
    api_cause,
)
from service.api.problems import PROBLEM_RESPONSES
from service.api.routes.webhooks import source_cache
from service.sources import store as sources
from service.sources import webhooks

router = APIRouter(
    prefix="/api/v1/admin/sources", tags=["admin: sources"], responses=PROBLEM_RESPONSES
)


@router.post("/{source_id}/webhooks", response_model=SourcePublic)
async def register_webhooks(
    source_id: PathId,
    session: SessionDep,
    principal: AdminDep,
    box: SecretBoxDep,
    settings: SettingsDep,
) -> SourcePublic:
    """Registers the source's webhooks upstream at `<PUBLIC_URL>/webhooks/<kind>/<id>` with its
    secret (generated when the source has none), or updates the ones there (found by URL).

    GitHub: a repository hook (`issues`, `pull_request`, `sub_issues`) per repository in scope,
    plus an org hook (`projects_v2_item`) for an org scope. Jira: one admin webhook (issue
    created/updated/deleted) filtered by the scope's JQL. 409 without `PUBLIC_URL`; 502 with
    the upstream's message when it refuses (nothing is stored then).
    """
    source = await sources.get(session, source_id)
    source = await webhooks.register(session, box, settings, source, cause=api_cause(principal))
    return sources.to_public(source, await sources.last_run(session, source_id))


@router.delete("/{source_id}/webhooks", response_model=WebhookRemoval)
async def unregister_webhooks(
    source_id: PathId, session: SessionDep, principal: AdminDep, box: SecretBoxDep
) -> WebhookRemoval:
    """Deletes the webhooks this service registered (hooks already gone upstream are skipped)."""
    source = await sources.get(session, source_id)
    removed = await webhooks.unregister(session, box, source, cause=api_cause(principal))
    return WebhookRemoval(removed=removed)


@router.post("/{source_id}/webhook-secret/rotate", response_model=SourcePublic)
async def rotate_webhook_secret(
    source_id: PathId,
    request: Request,
    session: SessionDep,
    principal: AdminDep,
    box: SecretBoxDep,
    settings: SettingsDep,
) -> SourcePublic:
    """Sets a new generated secret on every registered hook; deliveries signed with the old one
    are accepted until `previous_webhook_secret_valid_until` (`WEBHOOK_SECRET_GRACE_SECONDS`).
    The new secret is never returned. 409 when no webhooks are registered."""
    source = await sources.get(session, source_id)
    source = await webhooks.rotate_secret(
        session, box, settings, source, cause=api_cause(principal)
    )
    source_cache(request).forget(source_id)
    return sources.to_public(source, await sources.last_run(session, source_id))
