from datetime import timedelta

import pytest

from connectors.base import Page
from schemas.enums import RunStatus, SyncMode
from schemas.types import utcnow
from service.store.db import Database
from service.sync.record import RunCounters
from service.sync.runner import SyncRunner

from .fakes import START, FakeGitHub, FakeGraphQL
from .helpers import changes, count_work_item_writes, item_by_key, stored

pytestmark = pytest.mark.usefixtures("upstream")


async def test_full_then_incremental_counts_and_contents(
    db: Database, runner: SyncRunner, github: FakeGitHub, source_id: int
) -> None:
    full = await runner.run_foreground(source_id, SyncMode.full, trigger="test")

    assert full.status == RunStatus.succeeded, full.error
    assert (full.items_created, full.items_updated, full.items_unchanged) == (250, 0, 0)
    # ceil(250/100) list pages: the listing is the delete sweep, nothing else is sent.
    assert (full.pages, full.items_deleted, full.requests) == (3, 0, 3)
    assert full.generation == full.id and full.scopes["issues:octo/repo"]["status"] == "complete"
    content = await stored(db, source_id)
    assert [row[1] for row in content[:2]] == ["octo/repo#1", "octo/repo#10"]
    assert len(content) == 250 and not any(row[6] for row in content)
    assert len(await changes(db, f"sync:{full.id}")) == 250

    later = START + timedelta(days=2)
    for n in (10, 11, 12):
        github.edit(n, later + timedelta(seconds=n), title=f"renamed {n}")
    github.edit(251, later + timedelta(minutes=1), title="brand new")

    incremental = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")

    assert incremental.status == RunStatus.succeeded, incremental.error
    # GitHub's `since` is inclusive: the boundary issue (#250) is read again, unchanged.
    assert (incremental.items_created, incremental.items_updated) == (1, 3)
    assert (incremental.items_unchanged, incremental.requests, incremental.pages) == (1, 1, 1)
    assert (await item_by_key(db, source_id, "octo/repo#11")).title == "renamed 11"
    assert (await item_by_key(db, source_id, "octo/repo#251")).title == "brand new"
    feed = await changes(db, f"sync:{incremental.id}")
    assert sorted(c.type for c in feed) == ["work_item.created"] + ["work_item.updated"] * 3
    assert len(await stored(db, source_id)) == 251


async def test_unchanged_upstream_writes_nothing(
    db: Database, runner: SyncRunner, github: FakeGitHub, source_id: int
) -> None:
    await runner.run_foreground(source_id, SyncMode.full, trigger="test")
    before = await stored(db, source_id)
    feed_before = len(await changes(db))

    with count_work_item_writes(db) as writes:
        again = await runner.run_foreground(source_id, SyncMode.full, trigger="test")
        idle = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")

    assert again.status == idle.status == RunStatus.succeeded
    assert (again.items_unchanged, again.items_created, again.items_updated) == (250, 0, 0)
    # Only the full run's marks, one statement per page; no content is rewritten.
    assert len(writes) == 3
    assert all(w.startswith("UPDATE work_item SET seen_generation=") for w in writes)
    assert len(await changes(db)) == feed_before
    assert await stored(db, source_id) == before
    assert github.requests[-1].url.params.get("since") is not None


async def test_crash_after_page_then_rerun_matches_a_clean_run(
    db: Database, runner: SyncRunner, github: FakeGitHub, make_github_source
) -> None:
    clean_source = await make_github_source("clean")
    clean = await runner.run_foreground(clean_source, SyncMode.full, trigger="test")
    clean_reads = len(github.reads)
    assert clean_reads == clean.pages == 3

    crashing_source = await make_github_source("crashing")
    github.requests.clear()

    async def crash_after_second_page(number: int, _page: Page, _c: RunCounters) -> None:
        if number == 2:
            raise RuntimeError("injected crash after page 2")

    crashed = await runner.run_foreground(
        crashing_source, SyncMode.full, trigger="test", on_page=crash_after_second_page
    )
    assert crashed.status == RunStatus.failed
    assert crashed.error == "RuntimeError: injected crash after page 2"
    assert (crashed.pages, crashed.items_created) == (2, 200)
    assert len(await stored(db, crashing_source)) == 200  # both committed pages stayed

    rerun = await runner.run_foreground(crashing_source, SyncMode.full, trigger="test")

    assert rerun.status == RunStatus.succeeded, rerun.error
    assert rerun.generation == crashed.id and rerun.pages == 1  # resumed: page 3 only
    assert [row[1:] for row in await stored(db, crashing_source)] == [
        row[1:] for row in await stored(db, clean_source)
    ]
    # The crashed run had fetched page 3 ahead; the rerun lists it again and nothing else.
    assert len(github.reads) == clean_reads + 1
    assert rerun.items_unchanged == 0 and rerun.items_created == 50
    assert rerun.items_deleted == 0  # the first two pages' marks carried over


class ProcessDied(BaseException):
    """Stands in for SIGKILL right after a commit: nothing of the run gets to finish."""


async def test_full_run_killed_after_page_4_of_10_lists_at_most_11_pages_in_all(
    db: Database, settings, secret_box, github: FakeGitHub, make_github_source
) -> None:
    for number in range(251, 1001):
        github.edit(number, START + timedelta(minutes=number))
    source = await make_github_source("ten-pages")
    clock = {"now": utcnow()}
    dying = SyncRunner(db, settings, secret_box, holder="dying", clock=lambda: clock["now"])

    async def die_after_page_4(number: int, _page: Page, _c: RunCounters) -> None:
        if number == 4:
            raise ProcessDied

    with pytest.raises(ProcessDied):
        await dying.run_foreground(source, SyncMode.full, trigger="t", on_page=die_after_page_4)
    killed_reads = len(github.reads)
    clock["now"] += timedelta(seconds=settings.lease_ttl_seconds + 1)
    survivor = SyncRunner(db, settings, secret_box, holder="next", clock=lambda: clock["now"])
    rerun = await survivor.run_foreground(source, SyncMode.full, trigger="t")

    assert rerun.status == RunStatus.succeeded, rerun.error
    # Pages 1-4 stored and page 5 read ahead; the rerun lists pages 5-10 and nothing before.
    assert (killed_reads, len(github.reads)) == (5, 11)
    assert (rerun.pages, rerun.items_created, rerun.items_unchanged) == (6, 600, 0)
    assert rerun.items_deleted == 0 and rerun.generation != rerun.id
    assert len(await stored(db, source)) == 1000


async def test_out_of_order_older_version_never_overwrites(
    db: Database, runner: SyncRunner, github: FakeGitHub, source_id: int
) -> None:
    from service.store.work_items import upsert_work_items

    await runner.run_foreground(source_id, SyncMode.full, trigger="test")
    newer = (await item_by_key(db, source_id, "octo/repo#5")).model_copy()
    from schemas.work_item import WorkItemIn

    fresh = WorkItemIn.model_validate(
        {
            **newer.model_dump(include=set(WorkItemIn.model_fields)),
            "title": "from a webhook",
            "upstream_updated_at": START + timedelta(days=3),
        }
    )
    async with db.session() as session:
        await upsert_work_items(session, source_id, [fresh], cause="webhook:test")
    github.edit(5, START + timedelta(days=1), title="older poll copy")

    run = await runner.run_foreground(source_id, SyncMode.full, trigger="test")

    assert run.status == RunStatus.succeeded
    kept = await item_by_key(db, source_id, "octo/repo#5")
    assert kept.title == "from a webhook"
    assert kept.upstream_updated_at == START + timedelta(days=3)
    assert run.items_updated == 0


async def test_reconcile_tombstones_then_restores(
    db: Database, runner: SyncRunner, github: FakeGitHub, graphql: FakeGraphQL, source_id: int
) -> None:
    await runner.run_foreground(source_id, SyncMode.full, trigger="test")
    gone = github.issues.pop(7)
    github.requests.clear()

    swept = await runner.run_foreground(source_id, SyncMode.reconcile, trigger="test")

    assert swept.status == RunStatus.succeeded
    # ids over GraphQL: 3 pages of issues + 1 (empty) of pull requests, 0 REST requests
    assert (swept.items_deleted, swept.requests, swept.pages) == (1, 4, 0)
    assert github.requests == [] and len(graphql.requests) == 4
    tombstone = await item_by_key(db, source_id, "octo/repo#7")
    assert tombstone.deleted_at is not None
    assert [c.type for c in await changes(db, f"sync:{swept.id}")] == ["work_item.deleted"]

    github.issues[7] = gone
    back = await runner.run_foreground(source_id, SyncMode.reconcile, trigger="test")

    assert (back.items_deleted, back.items_updated) == (0, 1)
    assert (await item_by_key(db, source_id, "octo/repo#7")).deleted_at is None
    assert [c.type for c in await changes(db, f"sync:{back.id}")] == ["work_item.restored"]


async def test_incremental_reconciles_automatically_when_due(
    db: Database, runner: SyncRunner, github: FakeGitHub, source_id: int
) -> None:
    first = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")
    assert first.requests == 7  # never reconciled yet: 3 REST pages + 4 GraphQL id pages
    github.issues.pop(3)
    second = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")
    assert (second.requests, second.items_deleted) == (1, 0)  # not due again within a day

    runner.settings.reconcile_interval_seconds = 0
    third = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")
    assert third.items_deleted == 1
