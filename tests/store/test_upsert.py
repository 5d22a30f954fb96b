"""The single work-item upsert: idempotent, hash-skipping, out-of-order safe, parent-resolving."""

from sqlalchemy import func, select

from schemas.tables import Change, WorkItem
from service.store.db import Database
from service.store.work_items import reconcile_live_ids, tombstone_work_items, upsert_work_items
from tests.factories import item, make_source


async def _rows(db: Database) -> dict[str, WorkItem]:
    async with db.session() as session:
        rows = (await session.execute(select(WorkItem))).scalars().all()
        return {r.external_id: r for r in rows}


async def _change_types(db: Database) -> list[str]:
    async with db.session() as session:
        return list((await session.execute(select(Change.type).order_by(Change.id))).scalars())


async def test_create_then_unchanged_writes_nothing(db: Database) -> None:
    source_id = await make_source(db)
    async with db.session() as session:
        first = await upsert_work_items(session, source_id, [item(1), item(2)], cause="sync:1")
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    before = await _rows(db)
    async with db.session() as session:
        again = await upsert_work_items(session, source_id, [item(1), item(2)], cause="sync:2")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    after = await _rows(db)
    assert {k: v.updated_at for k, v in before.items()} == {
        k: v.updated_at for k, v in after.items()
    }
    assert await _change_types(db) == ["work_item.created", "work_item.created"]


async def test_update_records_only_changed_fields(db: Database) -> None:
    source_id = await make_source(db)
    async with db.session() as session:
        await upsert_work_items(session, source_id, [item(1)], cause="sync:1")
    async with db.session() as session:
        result = await upsert_work_items(
            session,
            source_id,
            [item(1, minutes=5, status="Done", status_category="done")],
            cause="webhook:d1",
        )
    assert result.updated == 1
    async with db.session() as session:
        change = (
            (await session.execute(select(Change).order_by(Change.id.desc()))).scalars().first()
        )  # type: ignore[union-attr]
    assert change is not None
    assert change.type == "work_item.updated"
    assert change.cause == "webhook:d1"
    assert set(change.after or {}) == {"status", "status_category", "upstream_updated_at"}
    assert change.before["status_category"] == "todo"  # type: ignore[index]


async def test_older_version_never_overwrites_newer(db: Database) -> None:
    source_id = await make_source(db)
    async with db.session() as session:
        await upsert_work_items(
            session, source_id, [item(1, minutes=10, title="new")], cause="sync:1"
        )
    async with db.session() as session:
        result = await upsert_work_items(
            session, source_id, [item(1, minutes=3, title="old")], cause="webhook:x"
        )
    assert result.stale == 1 and result.updated == 0
    assert (await _rows(db))["ext-1"].title == "new"


async def test_batch_duplicates_keep_the_newest(db: Database) -> None:
    source_id = await make_source(db)
    async with db.session() as session:
        result = await upsert_work_items(
            session,
            source_id,
            [item(1, minutes=2, title="b"), item(1, minutes=1, title="a")],
            cause="t",
        )
    assert result.created == 1
    assert (await _rows(db))["ext-1"].title == "b"


async def test_parent_arriving_after_child_is_resolved(db: Database) -> None:
    source_id = await make_source(db)
    async with db.session() as session:
        await upsert_work_items(
            session,
            source_id,
            [item(2, parent_external_id="ext-1", parent_key="PROJ-1")],
            cause="t",
        )
    assert (await _rows(db))["ext-2"].parent_id is None
    async with db.session() as session:
        await upsert_work_items(session, source_id, [item(1, kind="epic")], cause="t")
    rows = await _rows(db)
    assert rows["ext-2"].parent_id == rows["ext-1"].id
    # By key only (GitHub sub-issues know the parent's number, not its node id):
    async with db.session() as session:
        await upsert_work_items(session, source_id, [item(3, parent_key="PROJ-1")], cause="t")
    assert (await _rows(db))["ext-3"].parent_id == rows["ext-1"].id


async def test_tombstone_and_restore(db: Database) -> None:
    source_id = await make_source(db)
    async with db.session() as session:
        await upsert_work_items(session, source_id, [item(1), item(2), item(3)], cause="sync:1")
    async with db.session() as session:
        gone, back = await reconcile_live_ids(
            session, source_id, {"ext-1", "ext-3"}, cause="sync:2"
        )
    assert len(gone) == 1 and back == []
    rows = await _rows(db)
    assert rows["ext-2"].deleted_at is not None and rows["ext-1"].deleted_at is None
    async with db.session() as session:
        gone_again = await tombstone_work_items(session, source_id, ["ext-2"], cause="webhook:z")
    assert gone_again == []  # already a tombstone: nothing new, no second change row
    async with db.session() as session:
        result = await upsert_work_items(session, source_id, [item(2)], cause="sync:3")
    assert result.restored == 1
    assert (await _rows(db))["ext-2"].deleted_at is None
    assert (await _change_types(db))[-2:] == ["work_item.deleted", "work_item.restored"]


async def test_failed_transaction_leaves_no_rows_and_no_changes(db: Database) -> None:
    source_id = await make_source(db)
    try:
        async with db.session() as session:
            await upsert_work_items(session, source_id, [item(1)], cause="t")
            raise RuntimeError("crash after the upsert, before commit")
    except RuntimeError:
        pass
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(WorkItem)) == 0
        assert await session.scalar(select(func.count()).select_from(Change)) == 0


async def test_moved_child_follows_its_new_parent_and_orphans_wait(db: Database) -> None:
    source_id = await make_source(db)
    async with db.session() as session:
        await upsert_work_items(
            session,
            source_id,
            [
                item(1, kind="epic"),
                item(2, kind="epic"),
                item(3, parent_external_id="ext-1"),
                # Names a parent that is not stored yet: stays an orphan, by key too.
                item(4, parent_external_id="ext-9", parent_key="PROJ-2"),
                item(5, parent_key="PROJ-8"),
            ],
            cause="t",
        )
    rows = await _rows(db)
    assert rows["ext-3"].parent_id == rows["ext-1"].id
    assert rows["ext-4"].parent_id is None  # the external id wins over the key
    assert rows["ext-5"].parent_id is None
    async with db.session() as session:
        await upsert_work_items(
            session, source_id, [item(3, minutes=1, parent_external_id="ext-2")], cause="t"
        )
    assert (await _rows(db))["ext-3"].parent_id == rows["ext-2"].id
    # Parents arriving in a later batch adopt the orphans waiting for them.
    async with db.session() as session:
        await upsert_work_items(session, source_id, [item(9), item(8)], cause="t")
    rows = await _rows(db)
    assert rows["ext-4"].parent_id == rows["ext-9"].id
    assert rows["ext-5"].parent_id == rows["ext-8"].id
    # New children of stored parents, by external id and by key, and of themselves.
    async with db.session() as session:
        await upsert_work_items(
            session,
            source_id,
            [
                item(6, parent_external_id="ext-9"),
                item(7, parent_key="PROJ-8"),
                item(10, parent_key="PROJ-10"),
            ],
            cause="t",
        )
    rows = await _rows(db)
    assert rows["ext-6"].parent_id == rows["ext-9"].id
    assert rows["ext-7"].parent_id == rows["ext-8"].id
    assert rows["ext-10"].parent_id == rows["ext-10"].id
    # A content change that keeps the parent leaves it in place.
    async with db.session() as session:
        await upsert_work_items(
            session,
            source_id,
            [item(4, minutes=2, title="t2", parent_external_id="ext-9", parent_key="PROJ-2")],
            cause="t",
        )
    assert (await _rows(db))["ext-4"].parent_id == rows["ext-9"].id


async def test_update_and_restore_diff_against_the_stored_content(db: Database) -> None:
    source_id = await make_source(db)
    async with db.session() as session:
        await upsert_work_items(
            session, source_id, [item(1, raw={"big": "x" * 1000})], cause="sync:1"
        )
        await tombstone_work_items(session, source_id, ["ext-1"], cause="sync:1")
    async with db.session() as session:
        result = await upsert_work_items(
            session, source_id, [item(1, minutes=1, labels=["frontend"])], cause="sync:2"
        )
    assert result.restored == 1
    async with db.session() as session:
        change = (
            (await session.execute(select(Change).order_by(Change.id.desc()))).scalars().first()
        )
    assert change is not None and change.type == "work_item.restored"
    assert change.before is not None and change.after is not None
    assert change.before["labels"] == ["backend"] and change.after["labels"] == ["frontend"]
    assert change.after["deleted_at"] is None and change.before["deleted_at"] is not None
    assert (await _rows(db))["ext-1"].raw == {}


async def test_item_that_drops_its_parent_reference_loses_its_parent(db: Database) -> None:
    source_id = await make_source(db)
    async with db.session() as session:
        await upsert_work_items(
            session, source_id, [item(1, kind="epic"), item(2, parent_key="PROJ-1")], cause="t"
        )
    assert (await _rows(db))["ext-2"].parent_id is not None
    async with db.session() as session:
        await upsert_work_items(session, source_id, [item(2, minutes=5)], cause="t")
    assert (await _rows(db))["ext-2"].parent_id is None
