"""The write-back worker: writes the difference between desired and written labels.

Per source, due outbox rows are planned (`desired.plan_labels`), written through the
connector's label writer (GitHub: serial, paced per token; Jira: one `PUT` per item; both
under the shared rate-limit and retry policy) and then recorded: the row's written/owned
values and one write-log row per operation, in a short transaction of its own. No database
transaction is held open across an upstream request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import and_, or_, select
from sqlmodel import col

from connectors.base import Clock, ConnectorError, Sleep
from connectors.github.projects import ProjectRef
from connectors.github.writes import GitHubLabelWriter
from connectors.http import utc_now
from connectors.jira.writes import JiraLabelWriter
from connectors.registry import build_label_writer
from connectors.writes import LabelWriter
from schemas.api.write_back import WriteBackConfig
from schemas.tables import Source, WorkItem, WriteBackState, WriteBackWrite
from schemas.types import utcnow
from service.security import SecretBox
from service.sources.store import credentials_of
from service.store.db import Database
from service.sync import leases
from service.sync.runner import holder_id
from service.webhooks.worker import backoff
from service.writeback.desired import (
    CUSTOM_FIELD,
    PROJECT_FIELD,
    PROPERTY,
    PROPERTY_KEY,
    TITLE_FIELDS,
    LabelPlan,
    custom_field_type,
    enabled_configs,
    plan_labels,
    property_value,
)
from service.writeback.metrics import WRITES
from service.writeback.outbox import FAILED, PENDING, SYNCED

logger = logging.getLogger(__name__)
JOB = "write-back"


@dataclass
class WriteBackReport:
    items: int = 0
    writes: int = 0
    failed: int = 0


@dataclass
class _Due:
    state_id: int
    source_id: int
    item_id: int
    key: str
    field: str
    upstream: list[str]
    desired: list[str]
    written: list[str]
    plan: LabelPlan


@dataclass
class WriteBackWorker:
    """Writes due outbox rows. `sleep`/`clock` carry every wait (inject fakes in tests)."""

    db: Database
    box: SecretBox
    min_write_interval: float = 1.0
    max_wait_seconds: float = 15 * 60
    batch: int = 100
    client: httpx.AsyncClient | None = None
    sleep: Sleep = asyncio.sleep
    clock: Clock = utc_now
    # (source, repository or site, label) created upstream by this process.
    ensured: set[tuple[int, str, str]] = field(default_factory=set)

    async def run_once(self) -> WriteBackReport:
        """One pass over every write-back source; returns what it wrote."""
        report = WriteBackReport()
        async with self.db.session(readonly=True) as session:
            configs = await enabled_configs(session)
            sources = {
                s.id: s
                for s in (
                    await session.execute(select(Source).where(Source.id.in_(sorted(configs))))  # type: ignore[union-attr]
                ).scalars()
            }
        for source_id, config in configs.items():
            source = sources.get(source_id)
            if source is not None and source.enabled:
                await self._run_source(source, config, report)
        return report

    async def run_if_leader(self, holder: str, *, ttl_seconds: float) -> WriteBackReport:
        """One pass if this process holds the `write-back` job lease: one replica writes."""
        async with self.db.session() as session:
            if not await leases.acquire_job(
                session, JOB, holder, ttl_seconds=ttl_seconds, now=utcnow()
            ):
                return WriteBackReport()
        return await self.run_once()

    async def drain(self, max_passes: int = 50) -> WriteBackReport:
        """Run until nothing is due (tests, CLI); bounded so a failing upstream cannot spin."""
        total = WriteBackReport()
        for _ in range(max_passes):
            report = await self.run_once()
            total.items += report.items
            total.writes += report.writes
            total.failed += report.failed
            if report.items == 0 or report.writes == report.failed == 0:
                break
        return total

    async def _due(self, source_id: int) -> list[_Due]:
        now = self.clock()
        async with self.db.session(readonly=True) as session:
            rows = await session.execute(
                select(WriteBackState, WorkItem.key, WorkItem.labels)  # type: ignore[call-overload]
                .join(WorkItem, WorkItem.id == WriteBackState.work_item_id)
                .where(
                    WriteBackState.source_id == source_id,
                    WorkItem.deleted_at.is_(None),  # type: ignore[union-attr]
                    or_(
                        col(WriteBackState.status) == PENDING,
                        and_(
                            col(WriteBackState.status) == FAILED,
                            col(WriteBackState.next_attempt_at) <= now,
                        ),
                    ),
                )
                .order_by(WriteBackState.id)
                .limit(self.batch)
            )
            return [
                _Due(
                    state.id,
                    source_id,
                    state.work_item_id,
                    key,
                    state.field,
                    list(labels or []),
                    sorted(state.desired),
                    sorted(state.written),
                    plan_labels(state.desired, state.written, state.owned, labels or []),
                )
                for state, key, labels in rows
            ]

    async def _run_source(
        self, source: Source, config: WriteBackConfig, report: WriteBackReport
    ) -> None:
        assert source.id is not None
        due = await self._due(source.id)
        if not due:
            return
        writer = build_label_writer(
            source.kind,
            base_url=source.base_url,
            credentials=credentials_of(self.box, source),
            settings=source.settings,
            scope=source.scope,
            client=self.client,
            sleep=self.sleep,
            clock=self.clock,
            max_wait_seconds=self.max_wait_seconds,
            min_write_interval=self.min_write_interval,
        )
        try:
            for item in due:
                report.items += 1
                logs, error = await self._write(writer, source, config, item)
                report.writes += len(logs)
                report.failed += sum(1 for log in logs if log["status"] == "failed")
                await self._record(item, logs, error)
        finally:
            await writer.aclose()

    async def _write(
        self, writer: LabelWriter, source: Source, config: WriteBackConfig, item: _Due
    ) -> tuple[list[dict[str, Any]], str | None]:
        assert source.id is not None
        if item.field == PROPERTY:
            return await self._write_property(writer, config, item)
        if item.field in TITLE_FIELDS:
            return await self._write_title(writer, source, config, item)
        plan, logs = item.plan, []
        after = sorted((set(item.upstream) - set(plan.remove)) | set(plan.add))
        where = item.key.rpartition("#")[0] or source.base_url
        try:
            for label in plan.add:
                if (source.id, where, label) in self.ensured:
                    continue
                if await writer.ensure_label(item.key, label, config.label_color):
                    logs.append(_log("create_label", label, item.upstream, item.upstream))
                self.ensured.add((source.id, where, label))
            await writer.change_labels(item.key, plan.add, plan.remove)
        except ConnectorError as exc:
            error: str | None = str(exc)[:2000]
        else:
            error = None
        for operation, labels in (("remove", plan.remove), ("add", plan.add)):
            logs += [_log(operation, label, item.upstream, after, error) for label in labels]
        for log in logs:
            WRITES.labels(str(source.id), log["operation"], log["status"]).inc()
        return logs, error

    async def _write_property(
        self, writer: LabelWriter, config: WriteBackConfig, item: _Due
    ) -> tuple[list[dict[str, Any]], str | None]:
        if not isinstance(writer, JiraLabelWriter):
            return [], None  # settings refuse it for GitHub; nothing to write there
        error = None
        try:
            value = property_value(config, item.desired)
            await writer.set_property(item.key, PROPERTY_KEY, value)
        except ConnectorError as exc:
            error = str(exc)[:2000]
        log = _log("set", PROPERTY_KEY, item.written, item.desired, error)
        WRITES.labels(str(item.source_id), "set", log["status"]).inc()
        return [log], error

    async def _write_title(
        self, writer: LabelWriter, source: Source, config: WriteBackConfig, item: _Due
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A field holding the initiative's title: set whole, or cleared without one."""
        value = item.desired[0] if item.desired else None
        error = None
        try:
            if not await self._send_title(writer, source, config, item, value):
                return [], None  # nothing to write there (e.g. an issue not on the project)
        except ConnectorError as exc:
            error = str(exc)[:2000]
        operation = "set" if value is not None else "clear"
        shown = value if value is not None else (item.written or [""])[0]
        log = _log(operation, shown[:300], item.written, item.desired, error)
        WRITES.labels(str(item.source_id), operation, log["status"]).inc()
        return [log], error

    @staticmethod
    async def _send_title(
        writer: LabelWriter,
        source: Source,
        config: WriteBackConfig,
        item: _Due,
        value: str | None,
    ) -> bool:
        if item.field == PROJECT_FIELD:
            target = config.project_field
            if target is None or not isinstance(writer, GitHubLabelWriter):
                return False  # settings refuse it outside GitHub
            ref = ProjectRef(target.owner, target.owner_type, target.number)
            return await writer.set_project_field(item.key, ref, target.field, value)
        field_id = config.jira_custom_field
        if item.field != CUSTOM_FIELD or field_id is None:
            return False
        if not isinstance(writer, JiraLabelWriter):
            return False  # settings refuse it outside Jira
        kind = custom_field_type(source, field_id)
        if kind is None:
            raise ConnectorError(f"{field_id} is no longer a discovered text or select field")
        await writer.set_field(item.key, field_id, kind, value)
        return True

    async def _record(self, item: _Due, logs: list[dict[str, Any]], error: str | None) -> None:
        async with self.db.session() as session:
            state = await session.get(WriteBackState, item.state_id)
            for log in logs:
                session.add(
                    WriteBackWrite(
                        source_id=item.source_id,
                        work_item_id=item.item_id if state is not None else None,
                        item_key=item.key,
                        field=item.field,
                        **log,
                    )
                )
            if state is None:
                return
            if error is not None:
                state.attempts += 1
                state.status, state.error = FAILED, error
                state.next_attempt_at = self.clock() + backoff(state.attempts)
            elif item.field in (PROPERTY, *TITLE_FIELDS):
                state.written, state.owned = list(item.desired), list(item.desired)
            else:
                plan = item.plan
                gone = set(plan.remove) | set(plan.forget)
                state.written = sorted(
                    (set(state.written) - gone) | set(plan.add) | set(plan.adopt)
                )
                state.owned = sorted((set(state.owned) - gone) | set(plan.add))
            if error is None:
                state.attempts, state.error, state.next_attempt_at = 0, None, None
                state.status = SYNCED if sorted(state.desired) == state.written else PENDING
            state.updated_at = self.clock()
            session.add(state)


def _log(
    operation: str, label: str, before: list[str], after: list[str], error: str | None = None
) -> dict[str, Any]:
    return {
        "operation": operation,
        "value": label,
        "before": sorted(before),
        "after": sorted(after),
        "status": "failed" if error else "done",
        "error": error,
    }


async def start_write_back_worker(app: FastAPI) -> Callable[[], Awaitable[None]]:
    """Run the worker every `write_back_poll_seconds`; returns `stop()`."""
    settings = app.state.settings
    worker = WriteBackWorker(
        app.state.db,
        app.state.secret_box,
        min_write_interval=settings.write_back_min_interval_seconds,
        max_wait_seconds=settings.upstream_max_wait_seconds,
    )
    app.state.write_back_worker = worker
    stopping = asyncio.Event()
    holder = holder_id()
    # Held across passes; long enough for a full batch of paced writes, so another replica
    # takes over only when this one stops.
    ttl = settings.write_back_poll_seconds + worker.batch * worker.min_write_interval + 120

    async def loop() -> None:
        while not stopping.is_set():
            try:
                await worker.run_if_leader(holder, ttl_seconds=ttl)
            except Exception:
                logger.exception("write-back worker: pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=settings.write_back_poll_seconds)

    task = asyncio.create_task(loop(), name="write-back-worker")

    async def stop() -> None:
        stopping.set()
        try:
            await asyncio.wait_for(task, timeout=10)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return stop
