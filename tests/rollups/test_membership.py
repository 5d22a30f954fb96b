"""Materialised membership follows every write incrementally and equals a full rebuild."""

from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import col

from schemas.tables import (
    Change,
    MembershipAnchor,
    MembershipMultiLink,
    MembershipTally,
    MembershipTargetTally,
)
from service.rules import membership
from service.store.db import Database
from service.store.work_items import reconcile_live_ids, tombstone_work_items
from tests.factories import item, make_source
from tests.rules.support import RULES, initiative, key_result, objective, rule, upsert


async def _state(db: Database) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    async with db.session() as session:
        anchors = {
            (a.work_item_id, a.target_type, a.anchor_id, a.status_category, a.estimate, a.deleted)
            for a in (await session.execute(select(MembershipAnchor))).scalars()
        }
        tallies = {
            (
                t.target_type,
                t.anchor_id,
                t.status_category,
                t.deleted,
                t.items,
                t.estimated,
                round(t.points, 9),
            )
            for t in (await session.execute(select(MembershipTally))).scalars()
            if t.items
        }
        targets = {
            (
                t.target_type,
                t.target_id,
                t.status_category,
                t.deleted,
                t.items,
                t.estimated,
                round(t.points, 9),
            )
            for t in (await session.execute(select(MembershipTargetTally))).scalars()
            if t.items
        }
        multi = {
            (m.work_item_id, m.target_type)
            for m in (await session.execute(select(MembershipMultiLink))).scalars()
        }
    return anchors, tallies, targets, multi


async def assert_equals_rebuild(db: Database) -> None:
    """What incremental maintenance left equals a from-scratch recomputation."""
    incremental = await _state(db)
    async with db.session() as session:
        await membership.rebuild(session)
    assert incremental == await _state(db)


async def _counts(client: httpx.AsyncClient, headers: dict[str, str], target: int) -> dict:
    response = await client.get(f"/api/v1/initiatives/{target}/progress", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    excluded = {e["reason"].split(" ")[0]: e["count"] for e in body["explanation"]["excluded"]}
    return {"live": sum(body["explanation"]["counts"].values()), **excluded}


async def _member_keys(
    client: httpx.AsyncClient, headers: dict[str, str], target: int, kind: str = "initiative"
) -> set[str]:
    response = await client.get(
        "/api/v1/work-items", params={f"{kind}_id": target, "limit": 100}, headers=headers
    )
    assert response.status_code == 200, response.text
    return {i["key"] for i in response.json()["items"]}


def _tree() -> list:
    """Epic 1 ← stories 2, 3; story 2 ← subtask 4. Epic 5 stands alone."""
    return [
        item(1, kind="epic"),
        item(2, parent_key="PROJ-1", estimate=3),
        item(3, parent_key="PROJ-1", status_category="done", estimate=5),
        item(4, parent_key="PROJ-2", kind="subtask", estimate=1),
        item(5, kind="epic"),
    ]


async def test_linking_an_epic_brings_its_subtree_and_one_feed_row(
    db, client, editor_headers
) -> None:
    source = await make_source(db)
    keys = await upsert(db, source, *_tree())
    target = await initiative(client, editor_headers)
    async with db.session() as session:
        before = len((await session.execute(select(Change.id))).all())
    await client.put(
        f"/api/v1/initiatives/{target}/work-items/{keys['PROJ-1']}", headers=editor_headers
    )

    assert await _counts(client, editor_headers, target) == {"live": 4, "no": 1}
    assert await _member_keys(client, editor_headers, target) == {
        "PROJ-1",
        "PROJ-2",
        "PROJ-3",
        "PROJ-4",
    }
    async with db.session() as session:
        added = (
            (await session.execute(select(Change.type).order_by(col(Change.id)).offset(before)))
            .scalars()
            .all()
        )
    # Inherited membership does not flood the feed: one link row, one move of the initiative.
    assert added == ["link.added", "progress.changed"]
    await assert_equals_rebuild(db)


async def test_moving_a_child_moves_its_subtree(db, client, editor_headers) -> None:
    source = await make_source(db)
    keys = await upsert(db, source, *_tree())
    first, second = (
        await initiative(client, editor_headers),
        await initiative(client, editor_headers),
    )
    await client.put(
        f"/api/v1/initiatives/{first}/work-items/{keys['PROJ-1']}", headers=editor_headers
    )
    await client.put(
        f"/api/v1/initiatives/{second}/work-items/{keys['PROJ-5']}", headers=editor_headers
    )

    await upsert(db, source, item(2, minutes=5, parent_key="PROJ-5", estimate=3))

    assert await _member_keys(client, editor_headers, first) == {"PROJ-1", "PROJ-3"}
    assert await _member_keys(client, editor_headers, second) == {"PROJ-5", "PROJ-2", "PROJ-4"}
    assert (await _counts(client, editor_headers, second))["live"] == 3
    await assert_equals_rebuild(db)

    await upsert(db, source, item(2, minutes=9, parent_key="PROJ-1", estimate=3))  # and back
    assert await _member_keys(client, editor_headers, second) == {"PROJ-5"}
    assert (await _counts(client, editor_headers, first))["live"] == 4
    await assert_equals_rebuild(db)


async def test_exclusion_takes_the_subtree_out_and_removal_brings_it_back(
    db, client, editor_headers
) -> None:
    source = await make_source(db)
    keys = await upsert(db, source, *_tree())
    target = await initiative(client, editor_headers)
    base = f"/api/v1/initiatives/{target}/work-items"
    await client.put(f"{base}/{keys['PROJ-1']}", headers=editor_headers)

    await client.put(f"{base}/{keys['PROJ-2']}", json={"exclude": True}, headers=editor_headers)
    assert await _member_keys(client, editor_headers, target) == {"PROJ-1", "PROJ-3"}
    assert await _counts(client, editor_headers, target) == {"live": 2, "manually": 1, "no": 1}
    await assert_equals_rebuild(db)

    assert (
        await client.delete(f"{base}/{keys['PROJ-2']}", headers=editor_headers)
    ).status_code == 204
    assert (await _counts(client, editor_headers, target))["live"] == 4
    await assert_equals_rebuild(db)


async def test_tombstones_leave_the_rollups_and_restores_return(db, client, editor_headers) -> None:
    source = await make_source(db)
    keys = await upsert(db, source, *_tree())
    target = await initiative(client, editor_headers)
    await client.put(
        f"/api/v1/initiatives/{target}/work-items/{keys['PROJ-1']}", headers=editor_headers
    )

    async with db.session() as session:
        await tombstone_work_items(session, source, ["ext-4", "ext-3"], cause="test")
    counts = await _counts(client, editor_headers, target)
    assert counts["live"] == 2 and counts["deleted"] == 2
    assert await _member_keys(client, editor_headers, target) == {"PROJ-1", "PROJ-2"}
    await assert_equals_rebuild(db)

    live = {f"ext-{n}" for n in (1, 2, 3, 4, 5)}
    async with db.session() as session:
        await reconcile_live_ids(session, source, live, cause="test")
    assert await _counts(client, editor_headers, target) == {"live": 4, "no": 1}
    await assert_equals_rebuild(db)


async def test_a_child_stored_before_its_linked_parent_is_adopted(
    db, client, admin_headers, editor_headers
) -> None:
    source = await make_source(db)
    target = await initiative(client, admin_headers)
    await rule(client, admin_headers, {"kind": "epic"}, initiative_id=target)
    await upsert(db, source, item(2, parent_key="PROJ-1"), item(4, parent_key="PROJ-2"))
    await upsert(db, source, item(1, kind="epic"))  # resolves the waiting child's parent

    assert await _member_keys(client, editor_headers, target) == {"PROJ-1", "PROJ-2", "PROJ-4"}
    await assert_equals_rebuild(db)


async def test_a_rule_moving_an_epic_moves_its_members(
    db, client, admin_headers, editor_headers
) -> None:
    source = await make_source(db)
    first, second = await initiative(client, admin_headers), await initiative(client, admin_headers)
    created = await rule(client, admin_headers, {"kind": "epic"}, initiative_id=first)
    await upsert(db, source, *_tree())
    assert (await _counts(client, editor_headers, first))["live"] == 5
    await client.patch(
        f"{RULES}/{created['id']}",
        json={"target": {"initiative_id": second}},
        headers=admin_headers,
    )
    assert await _member_keys(client, editor_headers, first) == set()
    assert (await _counts(client, editor_headers, second))["live"] == 5
    await upsert(
        db, source, item(3, minutes=4, parent_key="PROJ-1", status_category="cancelled", estimate=5)
    )
    body = (
        await client.get(f"/api/v1/initiatives/{second}/progress", headers=editor_headers)
    ).json()
    assert body["explanation"]["counts"]["cancelled"] == 1
    assert body["explanation"]["points"]["cancelled"] == 5.0
    await assert_equals_rebuild(db)


async def test_key_result_counts_an_item_in_two_of_its_initiatives_once(
    db, client, editor_headers
) -> None:
    source = await make_source(db)
    keys = await upsert(db, source, *_tree())
    kr = await key_result(
        client,
        editor_headers,
        await objective(client, editor_headers),
        progress_source="linked_work",
    )
    first, second = (
        await initiative(client, editor_headers, key_result_ids=[kr]),
        await initiative(client, editor_headers, key_result_ids=[kr]),
    )
    for target in (first, second):
        await client.put(
            f"/api/v1/initiatives/{target}/work-items/{keys['PROJ-1']}", headers=editor_headers
        )
    await client.put(
        f"/api/v1/key-results/{kr}/work-items/{keys['PROJ-2']}", headers=editor_headers
    )

    body = (await client.get(f"/api/v1/key-results/{kr}/progress", headers=editor_headers)).json()
    assert sum(body["explanation"]["counts"].values()) == 4  # epic 1, 2, 3, 4: each once
    assert body["by_points"] == 5 / 9
    assert await _member_keys(client, editor_headers, kr, "key_result") == {"PROJ-2", "PROJ-4"}
    await assert_equals_rebuild(db)
