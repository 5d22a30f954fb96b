"""Admin pages for sources: list, detail with runs, create and edit, check, "Sync now", a run.

Every write goes through the same service functions as the admin API (`service.sources`,
`service.sync.runner`), so a page can do exactly what the API does and nothing else.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import Response

from schemas.api.sources import RunPublic, SourcePublic
from schemas.enums import RunStatus, SyncMode
from service.api.deps import (
    BigPathId,
    CursorDep,
    PathId,
    ResolverDep,
    SecretBoxDep,
    SessionDep,
    SettingsDep,
    api_cause,
)
from service.errors import ServiceError
from service.sources import checks
from service.sources import store as sources
from service.sources.ssrf import check_upstream_url
from service.sync import store as sync_store
from service.sync.runner import SyncAlreadyRunning, runner_of
from service.web import admin_queries
from service.web.admin_pages import render_admin
from service.web.deps import AdminPage, CsrfForm, redirect
from service.web.source_form import (
    FormInvalid,
    create_body,
    form_values,
    service_field_errors,
    typed_values,
    update_body,
)

router = APIRouter(prefix="/admin")

FINISHED = (RunStatus.succeeded, RunStatus.failed, RunStatus.abandoned)
NEW_SOURCE_DEFAULTS = {"kind": "github", "poll_interval_seconds": "300", "enabled": "on"}


def _texts(form: CsrfForm) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _public(session: SessionDep, source_id: int) -> SourcePublic:
    source = await sources.get(session, source_id)
    return sources.to_public(source, await sources.last_run(session, source_id))


@router.get("/sources")
async def sources_page(
    request: Request, user: AdminPage, session: SessionDep, cursor: CursorDep = None
) -> Response:
    rows, next_cursor = await sources.list_page(session, limit=50, cursor=cursor)
    items = [sources.to_public(r, await sources.last_run(session, r.id or 0)) for r in rows]
    return render_admin(
        request, "admin/sources.html", {"sources": items, "next_cursor": next_cursor}
    )


@router.get("/sources/new")
async def new_source_page(request: Request, user: AdminPage) -> Response:
    return render_admin(
        request,
        "admin/source_form.html",
        {"source": None, "values": NEW_SOURCE_DEFAULTS, "errors": {}},
    )


@router.post("/sources/new")
async def create_source(
    request: Request,
    user: AdminPage,
    form: CsrfForm,
    session: SessionDep,
    box: SecretBoxDep,
    settings: SettingsDep,
    resolver: ResolverDep,
) -> Response:
    typed = _texts(form)
    try:
        body = create_body(typed)
        await check_upstream_url(
            body.base_url, allow_private=settings.allow_private_upstreams, resolver=resolver
        )
        source = await sources.create(session, box, body, cause=api_cause(user.principal))
    except (FormInvalid, ServiceError) as exc:
        await session.rollback()
        errors = exc.errors if isinstance(exc, FormInvalid) else service_field_errors(exc)
        status = 422 if isinstance(exc, FormInvalid) else exc.status
        return render_admin(
            request,
            "admin/source_form.html",
            {"source": None, "values": typed_values(typed), "errors": errors},
            status_code=status,
        )
    return redirect(f"/admin/sources/{source.id}?created=1")


@router.get("/sources/{source_id}")
async def source_page(
    request: Request, source_id: PathId, user: AdminPage, session: SessionDep
) -> Response:
    source = await _public(session, source_id)
    runs = [
        RunPublic.model_validate(r) for r in await admin_queries.recent_runs(session, source_id)
    ]
    return render_admin(
        request,
        "admin/source.html",
        {"source": source, "runs": runs, "check": None, "notice": _notice(request)},
    )


def _notice(request: Request) -> str | None:
    if request.query_params.get("created"):
        return "The source was created. Sync it now, or let the scheduler poll it."
    if request.query_params.get("saved"):
        return "Changes saved."
    return None


@router.get("/sources/{source_id}/edit")
async def edit_source_page(
    request: Request, source_id: PathId, user: AdminPage, session: SessionDep
) -> Response:
    source = await _public(session, source_id)
    return render_admin(
        request,
        "admin/source_form.html",
        {"source": source, "values": form_values(source), "errors": {}},
    )


@router.post("/sources/{source_id}/edit")
async def update_source(
    request: Request,
    source_id: PathId,
    user: AdminPage,
    form: CsrfForm,
    session: SessionDep,
    box: SecretBoxDep,
    settings: SettingsDep,
    resolver: ResolverDep,
) -> Response:
    public = await _public(session, source_id)
    typed = _texts(form)
    try:
        body = update_body(public, typed)
        if body.base_url is not None and body.base_url.rstrip("/") != public.base_url:
            await check_upstream_url(
                body.base_url, allow_private=settings.allow_private_upstreams, resolver=resolver
            )
        source = await sources.get(session, source_id)
        await sources.update(session, box, source, body, cause=api_cause(user.principal))
    except (FormInvalid, ServiceError) as exc:
        await session.rollback()
        errors = exc.errors if isinstance(exc, FormInvalid) else service_field_errors(exc)
        status = 422 if isinstance(exc, FormInvalid) else exc.status
        values = typed_values(typed) | {"kind": public.kind.value}
        return render_admin(
            request,
            "admin/source_form.html",
            {"source": public, "values": values, "errors": errors},
            status_code=status,
        )
    return redirect(f"/admin/sources/{source_id}?saved=1")


@router.post("/sources/{source_id}/check")
async def check_source(
    request: Request,
    source_id: PathId,
    user: AdminPage,
    form: CsrfForm,
    session: SessionDep,
    box: SecretBoxDep,
) -> Response:
    """Checks credentials and scope upstream, as `POST …/test` does; shows what it found."""
    source = await sources.get(session, source_id)
    try:
        result: dict[str, object] = (await checks.check_source(session, box, source)).model_dump()
    except ServiceError as exc:
        await session.rollback()
        result = {"ok": False, "error": exc.detail}
    public = await _public(session, source_id)
    runs = [
        RunPublic.model_validate(r) for r in await admin_queries.recent_runs(session, source_id)
    ]
    return render_admin(
        request,
        "admin/source.html",
        {"source": public, "runs": runs, "check": result, "notice": None},
    )


@router.post("/sources/{source_id}/sync")
async def sync_now(
    request: Request,
    source_id: PathId,
    user: AdminPage,
    form: CsrfForm,
    session: SessionDep,
    background: BackgroundTasks,
) -> Response:
    """Starts a run as `POST /api/v1/admin/sources/{id}/sync` does; shows the run's page."""
    runner = runner_of(request.app.state)
    try:
        mode = SyncMode(str(form.get("mode") or SyncMode.incremental.value))
    except ValueError:
        mode = SyncMode.incremental
    try:
        run = await runner.request(session, source_id, mode, trigger="web")
    except SyncAlreadyRunning as exc:
        await session.rollback()
        if exc.run_id is not None:
            return redirect(f"/admin/runs/{exc.run_id}?already=1")
        raise
    assert run.id is not None
    # Runs once the response's transaction has committed the queued run (as the API does).
    background.add_task(runner.launch, run.id)
    return redirect(f"/admin/runs/{run.id}")


@router.get("/runs/{run_id}")
async def run_page(
    request: Request, run_id: BigPathId, user: AdminPage, session: SessionDep
) -> Response:
    run = RunPublic.model_validate(await sync_store.get_run(session, run_id))
    source = await sources.get(session, run.source_id)
    finished = run.status in FINISHED
    return render_admin(
        request,
        "admin/run.html",
        {
            "run": run,
            "source": source,
            "finished": finished,
            "already": bool(request.query_params.get("already")),
        },
    )
