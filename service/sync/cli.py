"""`portfolio-sync sync`: foreground runs with a live progress line and a summary table."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn
from rich.table import Table
from sqlalchemy import select
from sqlmodel import col

from connectors.base import Page
from schemas.enums import RunStatus, SyncMode
from schemas.tables import Source, SyncRun
from service.config import Settings
from service.portfolio import progress as rollup_progress
from service.security import load_secret_box
from service.sources import store as sources
from service.store.db import Database
from service.sync.record import RunCounters
from service.sync.runner import SyncAlreadyRunning, SyncRunner

_PROGRESS = (
    "pages {task.fields[pages]} · items {task.fields[items]} · requests "
    "{task.fields[requests]} · rate-limit wait {task.fields[waits]:.0f}s"
)


async def _select(db: Database, selector: str | None) -> Sequence[Source]:
    async with db.session() as session:
        if selector is None:
            stmt = select(Source).where(col(Source.enabled).is_(True)).order_by(col(Source.id))
            return list((await session.execute(stmt)).scalars())
        if selector.isdigit():
            found = await session.get(Source, int(selector))
        else:
            found = await sources.find_by_name(session, selector)
        return [found] if found is not None else []


def summary(results: Sequence[tuple[Source, SyncRun]]) -> Table:
    """One column per source, so the table stays readable in a narrow terminal."""
    table = Table("", *(source.name for source, _run in results), title="sync summary")
    rows: list[tuple[str, Callable[[SyncRun], str]]] = [
        ("run", lambda r: str(r.id)),
        ("mode", lambda r: r.mode),
        ("status", _status),
        ("pages", lambda r: str(r.pages)),
        ("requests", lambda r: str(r.requests)),
        ("created", lambda r: str(r.items_created)),
        ("updated", lambda r: str(r.items_updated)),
        ("unchanged", lambda r: str(r.items_unchanged)),
        ("deleted", lambda r: str(r.items_deleted)),
        ("retries", lambda r: str(r.retries)),
        ("rate-limit wait", lambda r: f"{r.rate_limit_wait_seconds:.0f}s"),
    ]
    for label, render in rows:
        table.add_row(label, *(render(run) for _source, run in results))
    return table


def _status(run: SyncRun) -> str:
    colour = "green" if run.status == RunStatus.succeeded else "red"
    return f"[{colour}]{run.status}[/{colour}]"


async def sync_command(
    settings: Settings, selector: str | None, mode: SyncMode, *, out: Console, err: Console
) -> bool:
    """Sync one source (id or name) or every enabled one; True when every run succeeded."""
    db = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    rollup_progress.configure(db, settings)
    try:
        chosen = await _select(db, selector)
        if not chosen:
            which = f"no source {selector!r}" if selector else "no enabled sources"
            err.print(f"[red]error:[/red] {which}")
            return False
        runner = SyncRunner(db, settings, load_secret_box(settings))
        results: list[tuple[Source, SyncRun]] = []
        ok = True
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TextColumn(_PROGRESS), console=err
        ) as progress:
            for source in chosen:
                assert source.id is not None
                task = progress.add_task(source.name, pages=0, items=0, requests=0, waits=0.0)

                async def show(
                    number: int, page: Page, counters: RunCounters, task: TaskID = task
                ) -> None:
                    items = counters.created + counters.updated + counters.unchanged
                    progress.update(
                        task,
                        pages=number,
                        items=items,
                        requests=counters.stats.requests,
                        waits=counters.stats.rate_limit_wait_seconds,
                    )

                try:
                    run = await runner.run_foreground(source.id, mode, trigger="cli", on_page=show)
                except SyncAlreadyRunning as exc:
                    err.print(f"[red]error:[/red] {source.name}: {exc.detail}")
                    ok = False
                    continue
                progress.update(task, requests=run.requests, pages=run.pages)
                results.append((source, run))
        out.print(summary(results))
        for source, run in results:
            if run.status != RunStatus.succeeded:
                ok = False
                err.print(f"[red]error:[/red] {source.name} run {run.id} {run.status}: {run.error}")
        return ok
    finally:
        await db.dispose()
