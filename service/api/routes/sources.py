from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request

from schemas.api.common import Page
from schemas.api.sources import (
    RunPublic,
    SourceCheck,
    SourceCreate,
    SourcePublic,
    SourceUpdate,
    SyncAccepted,
    SyncRequest,
)
from schemas.enums import RunStatus
from service.api.deps import (
    AdminDep,
    CursorDep,
    LimitDep,
    PathId,
    ResolverDep,
    SecretBoxDep,
    SessionDep,
    SettingsDep,
    api_cause,
)
from service.api.problems import PROBLEM_RESPONSES
from service.sources import checks
from service.sources import store as sources
from service.sources.ssrf import check_upstream_url
from service.sync import store as sync_store
from service.sync.runner import SyncRunner, runner_of

router = APIRouter(
    prefix="/api/v1/admin/sources", tags=["admin: sources"], responses=PROBLEM_RESPONSES
)


async def get_sync_runner(request: Request) -> SyncRunner:
    return runner_of(request.app.state)


RunnerDep = Annotated[SyncRunner, Depends(get_sync_runner)]


@router.get("", response_model=Page[SourcePublic])
async def list_sources(
    session: SessionDep, _: AdminDep, limit: LimitDep = 50, cursor: CursorDep = None
) -> Page[SourcePublic]:
    rows, next_cursor = await sources.list_page(session, limit=limit, cursor=cursor)
    items = [sources.to_public(r, await sources.last_run(session, r.id or 0)) for r in rows]
    return Page(items=items, next_cursor=next_cursor)


@router.post("", response_model=SourcePublic, status_code=201)
async def create_source(
    body: SourceCreate,
    session: SessionDep,
    principal: AdminDep,
    box: SecretBoxDep,
    settings: SettingsDep,
    resolver: ResolverDep,
) -> SourcePublic:
    await check_upstream_url(
        body.base_url, allow_private=settings.allow_private_upstreams, resolver=resolver
    )
    source = await sources.create(session, box, body, cause=api_cause(principal))
    return sources.to_public(source, None)


@router.get("/{source_id}", response_model=SourcePublic)
async def get_source(source_id: PathId, session: SessionDep, _: AdminDep) -> SourcePublic:
    source = await sources.get(session, source_id)
    return sources.to_public(source, await sources.last_run(session, source_id))


@router.patch("/{source_id}", response_model=SourcePublic)
async def update_source(
    source_id: PathId,
    body: SourceUpdate,
    session: SessionDep,
    principal: AdminDep,
    box: SecretBoxDep,
    settings: SettingsDep,
    resolver: ResolverDep,
) -> SourcePublic:
    if body.base_url is not None:
        await check_upstream_url(
            body.base_url, allow_private=settings.allow_private_upstreams, resolver=resolver
        )
    source = await sources.get(session, source_id)
    source = await sources.update(session, box, source, body, cause=api_cause(principal))
    return sources.to_public(source, await sources.last_run(session, source_id))


@router.delete("/{source_id}", status_code=204)
async def delete_source(source_id: PathId, session: SessionDep, principal: AdminDep) -> None:
    """Deletes the source with its work items, cursors and runs."""
    source = await sources.get(session, source_id)
    await sources.delete(session, source, cause=api_cause(principal))


@router.post("/{source_id}/test", response_model=SourceCheck)
async def test_source(
    source_id: PathId, session: SessionDep, _: AdminDep, box: SecretBoxDep
) -> SourceCheck:
    """Checks credentials and scope upstream (GitHub: each repository; Jira: `/myself` and each
    project) and discovers field choices. Upstream failures are 502 with the upstream's message."""
    source = await sources.get(session, source_id)
    return await checks.check_source(session, box, source)


@router.post("/{source_id}/sync", response_model=SyncAccepted, status_code=202)
async def sync_source(
    source_id: PathId,
    session: SessionDep,
    _: AdminDep,
    runner: RunnerDep,
    background: BackgroundTasks,
    body: SyncRequest | None = None,
) -> SyncAccepted:
    """Starts a run in the background. 409 (with `running_run_id`) while another run is active."""
    request = body or SyncRequest()
    run = await runner.request(session, source_id, request.mode, trigger="api")
    assert run.id is not None
    # Background tasks run after the request's transaction has committed the queued run.
    background.add_task(runner.launch, run.id)
    return SyncAccepted(run_id=run.id, status=RunStatus(run.status))


@router.get("/{source_id}/runs", response_model=Page[RunPublic])
async def list_source_runs(
    source_id: PathId,
    session: SessionDep,
    _: AdminDep,
    limit: LimitDep = 50,
    cursor: CursorDep = None,
) -> Page[RunPublic]:
    await sources.get(session, source_id)
    rows, next_cursor = await sync_store.list_runs(session, source_id, limit=limit, cursor=cursor)
    return Page(items=[RunPublic.model_validate(r) for r in rows], next_cursor=next_cursor)
