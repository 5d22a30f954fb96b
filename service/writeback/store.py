"""Admin side of write-back: per-source settings, the preview and the write log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.write_back import (
    WriteBackConfig,
    WriteBackPreview,
    WriteBackPreviewItem,
)
from schemas.tables import Source, WorkItem, WriteBackState, WriteBackWrite
from service.errors import NotFound, Unprocessable
from service.store.changes import append_change
from service.store.pagination import paginate
from service.writeback import guard, outbox
from service.writeback.desired import (
    CUSTOM_FIELD,
    PROJECT_FIELD,
    PROPERTY,
    TITLE_FIELDS,
    ItemState,
    config_of,
    custom_field_type,
    fields_of,
    item_states,
    plan_labels,
)
from service.writeback.outbox import CONFLICT


async def _source(session: AsyncSession, source_id: int) -> Source:
    source = await session.get(Source, source_id)
    if source is None:
        raise NotFound(f"source {source_id} does not exist")
    return source


def _field_problem(source: Source, config: WriteBackConfig) -> tuple[str, str | None]:
    """The setting at fault and why, if any. A Projects field: GitHub only, never a field the
    sync reads (Status sets status categories, which rules test: writing it could loop). A
    Jira custom field: Jira only, a text or select field the source's discovery found."""
    target, field_id = config.project_field, config.jira_custom_field
    if target is not None:
        if source.kind != "github":
            return "project_field", "Projects v2 fields exist on GitHub sources only"
        if target.field.casefold() in {"status", *_read_fields(source)}:
            return "project_field", f"{target.field!r} is read by the sync; choose another field"
    if field_id is not None:
        if source.kind != "jira":
            return "jira_custom_field", "custom fields are written on Jira sources only"
        if custom_field_type(source, field_id) is None:
            return "jira_custom_field", (
                f"{field_id} is not a text or select field of this site as last discovered "
                "(check the source to discover its fields again)"
            )
    return "", None


def _read_fields(source: Source) -> set[str]:
    return {str((source.settings or {}).get("project_estimate_field") or "Estimate").casefold()}


async def get_config(session: AsyncSession, source_id: int) -> WriteBackConfig:
    return config_of(await _source(session, source_id))


async def put_config(
    session: AsyncSession, source_id: int, config: WriteBackConfig, *, author: str
) -> WriteBackConfig:
    """Store the settings; turning write-back on records every item's desired labels."""
    source = await _source(session, source_id)
    if config.jira_property and source.kind != "jira":
        raise Unprocessable(
            "jira_property: entity properties exist on Jira sources only",
            errors=[{"loc": ["body", "jira_property"], "msg": "Jira only", "type": "value_error"}],
        )
    setting, problem = _field_problem(source, config)
    if problem:
        raise Unprocessable(
            f"{setting}: {problem}",
            errors=[{"loc": ["body", setting], "msg": problem, "type": "value_error"}],
        )
    await guard.check_config(session, config)
    before = config_of(source)
    source.write_back = config.model_dump(mode="json")
    session.add(source)
    await session.flush()
    if before != config:
        await append_change(
            session,
            "source.write_back_updated",
            "source",
            source_id,
            cause=f"api:{author}",
            before=before.model_dump(mode="json"),
            after=config.model_dump(mode="json"),
        )
    await _forget_moved_fields(session, source_id, before, config)
    if config.enabled:
        await outbox.backfill(session, source_id)
    return config


async def _forget_moved_fields(
    session: AsyncSession, source_id: int, before: WriteBackConfig, after: WriteBackConfig
) -> None:
    """A title field pointed elsewhere starts afresh: what was written went to the old one."""
    moved = [
        name
        for name, old, new in (
            (PROJECT_FIELD, before.project_field, after.project_field),
            (CUSTOM_FIELD, before.jira_custom_field, after.jira_custom_field),
        )
        if old != new
    ]
    if moved:
        await session.execute(
            delete(WriteBackState).where(
                col(WriteBackState.source_id) == source_id, col(WriteBackState.field).in_(moved)
            )
        )


async def preview(session: AsyncSession, source_id: int) -> WriteBackPreview:
    """What the worker would write for this source now (also when write-back is off)."""
    source = await _source(session, source_id)
    config = config_of(source)
    rows = await session.execute(
        select(col(WorkItem.id)).where(
            col(WorkItem.source_id) == source_id, col(WorkItem.deleted_at).is_(None)
        )
    )
    ids = [i for i in rows.scalars() if i is not None]
    states = await item_states(session, ids, {source_id: config})
    found = await session.execute(
        select(WriteBackState).where(col(WriteBackState.source_id) == source_id)
    )
    stored = {(row.work_item_id, row.field): row for row in found.scalars()}
    items = []
    for state in sorted(states, key=lambda s: s.id):
        for field_name in fields_of(config):
            row = stored.get((state.id, field_name))
            if row is not None and row.status == CONFLICT:
                continue  # left as a person set it (store_wins, removed twice)
            written, owned = (row.written, row.owned) if row is not None else ([], [])
            if field_name in (PROPERTY, *TITLE_FIELDS):
                desired = state.desired_for(field_name)
                if sorted(written) != desired:
                    # Set whole: the new value, and the one it replaces.
                    items.append(_item(state, field_name, desired, sorted(written)))
                continue
            plan = plan_labels(state.desired, written, owned, state.upstream)
            if plan.writes:
                items.append(_item(state, field_name, plan.add, plan.remove))
    return WriteBackPreview(
        source_id=source_id,
        enabled=config.enabled,
        adds=sum(len(i.add) for i in items),
        removes=sum(len(i.remove) for i in items),
        items=items,
    )


def _item(state: ItemState, field: str, add: list[str], remove: list[str]) -> WriteBackPreviewItem:
    return WriteBackPreviewItem(
        work_item_id=state.id, key=state.key, field=field, add=add, remove=remove
    )


async def list_writes(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None,
    source_id: int | None = None,
    work_item_id: int | None = None,
    status: str | None = None,
    operation: str | None = None,
) -> tuple[Sequence[Any], str | None]:
    stmt = select(WriteBackWrite)
    for column, value in (
        (WriteBackWrite.source_id, source_id),
        (WriteBackWrite.work_item_id, work_item_id),
        (WriteBackWrite.status, status),
        (WriteBackWrite.operation, operation),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    return await paginate(session, stmt, WriteBackWrite.id, limit=limit, cursor=cursor)
