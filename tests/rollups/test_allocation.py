"""Allocation: open work per initiative per group, unplanned work visible, totals."""

from tests.factories import item, make_source
from tests.rules.support import initiative, upsert

ALLOCATION = "/api/v1/portfolio/allocation"


async def _setup(db, client, headers) -> tuple[int, int]:
    source = await make_source(db)
    keys = await upsert(
        db,
        source,
        item(1, kind="epic", assignee="ana", labels=["a", "b"], estimate=3),
        item(
            2,
            parent_key="PROJ-1",
            assignee="bo",
            labels=[],
            estimate=2,
            status_category="in_progress",
        ),
        item(3, parent_key="PROJ-1", assignee="bo", status_category="done", estimate=8),
        item(4, assignee="ana", labels=["a"], estimate=5),  # unplanned
    )
    target = await initiative(client, headers)
    await client.put(f"/api/v1/initiatives/{target}/work-items/{keys['PROJ-1']}", headers=headers)
    return source, target


def _rows(body: dict) -> set[tuple]:
    return {
        (r["initiative_id"], r["group"], r["open_items"], r["open_points"]) for r in body["rows"]
    }


async def test_allocation_by_assignee(db, client, editor_headers) -> None:
    _, target = await _setup(db, client, editor_headers)
    body = (await client.get(ALLOCATION, headers=editor_headers)).json()
    assert _rows(body) == {(target, "ana", 1, 3.0), (target, "bo", 1, 2.0), (None, "ana", 1, 5.0)}
    assert [(t["key"], t["open_items"], t["open_points"]) for t in body["by_initiative"]] == [
        (str(target), 2, 5.0),
        ("unplanned", 1, 5.0),
    ]
    assert (body["total"]["open_items"], body["total"]["open_points"]) == (3, 10.0)


async def test_allocation_by_label_counts_items_once_in_totals(db, client, editor_headers) -> None:
    _, target = await _setup(db, client, editor_headers)
    body = (
        await client.get(ALLOCATION, params={"group_by": "label"}, headers=editor_headers)
    ).json()
    assert _rows(body) == {
        (target, "a", 1, 3.0),
        (target, "b", 1, 3.0),
        (target, "(none)", 1, 2.0),
        (None, "a", 1, 5.0),
    }
    assert {(t["key"], t["open_items"], t["open_points"]) for t in body["by_group"]} == {
        ("a", 2, 8.0),
        ("b", 1, 3.0),
        ("(none)", 1, 2.0),
    }
    assert body["total"]["open_items"] == 3


async def test_allocation_by_source_and_bad_group(db, client, editor_headers) -> None:
    source, target = await _setup(db, client, editor_headers)
    body = (
        await client.get(ALLOCATION, params={"group_by": "source"}, headers=editor_headers)
    ).json()
    assert _rows(body) == {(target, str(source), 2, 5.0), (None, str(source), 1, 5.0)}
    bad = await client.get(ALLOCATION, params={"group_by": "team"}, headers=editor_headers)
    assert bad.status_code == 422
    assert "group_by" in bad.json()["detail"]


async def test_allocation_by_component_puts_items_without_any_in_none(
    db, client, editor_headers
) -> None:
    _, target = await _setup(db, client, editor_headers)
    body = (
        await client.get(ALLOCATION, params={"group_by": "component"}, headers=editor_headers)
    ).json()
    assert _rows(body) == {(target, "(none)", 2, 5.0), (None, "(none)", 1, 5.0)}
