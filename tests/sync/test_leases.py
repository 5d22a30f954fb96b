import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from connectors.base import Page
from schemas.enums import RunStatus, SyncMode
from schemas.tables import SyncLease
from schemas.types import utcnow
from service.config import Settings
from service.security import SecretBox
from service.store.db import Database
from service.sync import leases
from service.sync.record import RunCounters
from service.sync.runner import SyncAlreadyRunning, SyncRunner

from .fakes import FakeGitHub
from .helpers import stored

pytestmark = pytest.mark.usefixtures("upstream")


class ProcessDied(BaseException):
    """Stands in for a killed process: nothing after it runs, not even error handling."""


async def test_two_runners_racing_on_one_source_exactly_one_runs(
    db: Database, settings: Settings, secret_box: SecretBox, source_id: int
) -> None:
    first = SyncRunner(db, settings, secret_box, holder="replica-a")
    second = SyncRunner(db, settings, secret_box, holder="replica-b")

    outcomes = await asyncio.gather(
        first.start(source_id, SyncMode.incremental, trigger="test"),
        second.start(source_id, SyncMode.incremental, trigger="test"),
        return_exceptions=True,
    )

    started = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, SyncAlreadyRunning)]
    assert len(started) == 1 and len(refused) == 1, outcomes
    assert refused[0].run_id == started[0]
    assert refused[0].extra == {"running_run_id": started[0]}
    winner = first if first.tasks else second
    assert (await winner.wait(started[0])).status == RunStatus.succeeded
    await first.aclose()
    await second.aclose()


async def test_a_free_lease_is_taken_after_the_run_ends(
    db: Database, runner: SyncRunner, source_id: int
) -> None:
    one = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")
    two = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")
    assert one.status == two.status == RunStatus.succeeded
    async with db.session() as session:
        lease = (await session.execute(select(SyncLease))).scalars().one()
    assert lease.holder is None and lease.run_id == two.id


async def test_postgres_skip_locked_does_not_wait_for_a_locked_lease_row(
    db: Database, source_id: int
) -> None:
    if not db.is_postgres:
        pytest.skip("row locks are PostgreSQL's; SQLite serializes writers with BEGIN IMMEDIATE")
    async with db.session() as session:
        assert await leases.acquire(session, source_id, "a", ttl_seconds=60, now=utcnow())
        await leases.release(session, source_id, "a")
    async with db.session() as holding:
        # Another replica is inside its acquire transaction, holding the row lock.
        await holding.execute(
            select(SyncLease).where(SyncLease.source_id == source_id).with_for_update()  # type: ignore[arg-type]
        )
        async with db.session() as contender:
            taken = await asyncio.wait_for(
                leases.acquire(contender, source_id, "b", ttl_seconds=60, now=utcnow()), 2
            )
        assert taken is False


async def test_dead_holder_lease_expires_run_is_abandoned_and_next_run_resumes(
    db: Database,
    settings: Settings,
    secret_box: SecretBox,
    github: FakeGitHub,
    source_id: int,
    make_github_source,
) -> None:
    clock = {"now": utcnow()}
    dying = SyncRunner(db, settings, secret_box, holder="dying", clock=lambda: clock["now"])

    async def die_after_first_page(number: int, _page: Page, _c: RunCounters) -> None:
        raise ProcessDied

    with pytest.raises(ProcessDied):
        await dying.run_foreground(
            source_id, SyncMode.full, trigger="test", on_page=die_after_first_page
        )
    survivor = SyncRunner(db, settings, secret_box, holder="survivor", clock=lambda: clock["now"])
    with pytest.raises(SyncAlreadyRunning) as refused:
        await survivor.start(source_id, SyncMode.incremental, trigger="test")
    dead_run = refused.value.run_id
    assert dead_run is not None

    clock["now"] += timedelta(seconds=settings.lease_ttl_seconds + 1)
    github.requests.clear()
    resumed = await survivor.run_foreground(source_id, SyncMode.full, trigger="test")

    assert resumed.status == RunStatus.succeeded, resumed.error
    assert len(github.reads) == 2  # pages 2 and 3 only: page 1 was checkpointed
    # The checkpoint is the next page's first `updated_at`: nothing stored is read again.
    assert resumed.items_created == 150 and resumed.items_unchanged == 0
    assert resumed.generation == dead_run  # the killed run's marks carry over
    async with db.session() as session:
        from service.sync.store import get_run

        abandoned = await get_run(session, dead_run)
    assert abandoned.status == RunStatus.abandoned
    assert "lease" in (abandoned.error or "")
    clean = await make_github_source("clean")
    await survivor.run_foreground(clean, SyncMode.full, trigger="test")
    assert [r[1:] for r in await stored(db, source_id)] == [r[1:] for r in await stored(db, clean)]


async def test_a_run_that_lost_its_lease_stops_writing(
    db: Database, settings: Settings, secret_box: SecretBox, source_id: int
) -> None:
    runner = SyncRunner(db, settings, secret_box, holder="slow")

    async def stolen(number: int, _page: Page, _c: RunCounters) -> None:
        async with db.session() as session:
            await leases.release(session, source_id, "slow")
            assert await leases.acquire(session, source_id, "thief", ttl_seconds=60, now=utcnow())

    run = await runner.run_foreground(source_id, SyncMode.full, trigger="test", on_page=stolen)

    assert run.status == RunStatus.failed
    assert "lease was lost" in (run.error or "")
    assert run.items_created == 100  # the page written after the theft was rolled back
    assert len(await stored(db, source_id)) == 100
