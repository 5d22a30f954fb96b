"""Rollup numbers on a hand-built tree with known answers."""

import pytest

from service.store.work_items import tombstone_work_items
from tests.factories import item, make_source
from tests.rules.support import initiative, key_result, objective, upsert


async def _tree(db, client, headers) -> dict:
    """Initiative I ← epic E (+ descendants) and item X; see the docstring numbers below."""
    source = await make_source(db)
    keys = await upsert(
        db,
        source,
        item(1, kind="epic", status_category="in_progress"),  # E, no estimate
        item(2, parent_key="PROJ-1", status_category="done", estimate=3),
        item(3, parent_key="PROJ-1", status_category="in_progress", estimate=5),
        item(4, parent_key="PROJ-1", status_category="cancelled", estimate=2),
        item(5, parent_key="PROJ-1", status_category="done", estimate=1),  # deleted below
        item(6, parent_key="PROJ-3", status_category="todo", estimate=2),  # grandchild
        item(7, status_category="todo"),  # X, linked directly, no estimate
        item(8, parent_key="PROJ-1", status_category="done", estimate=40),  # excluded below
        item(9, status_category="done", estimate=10),  # Z, only on the key result
    )
    async with db.session() as session:
        await tombstone_work_items(session, source, ["ext-5"], cause="test")
    target = await initiative(client, headers)
    for key in ("PROJ-1", "PROJ-7"):
        await client.put(f"/api/v1/initiatives/{target}/work-items/{keys[key]}", headers=headers)
    await client.put(
        f"/api/v1/initiatives/{target}/work-items/{keys['PROJ-8']}",
        json={"exclude": True},
        headers=headers,
    )
    return {"source": source, "keys": keys, "initiative": target}


async def test_initiative_by_count_and_by_points(db, client, editor_headers) -> None:
    tree = await _tree(db, client, editor_headers)
    response = await client.get(
        f"/api/v1/initiatives/{tree['initiative']}/progress", headers=editor_headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # Live: E(ip) 2(done,3) 3(ip,5) 4(cancelled,2) 6(todo,2) X(todo) → 6 items, 12 points.
    assert body["explanation"]["counts"] == {"todo": 2, "in_progress": 2, "done": 1, "cancelled": 1}
    assert body["explanation"]["points"] == {
        "todo": 2.0,
        "in_progress": 5.0,
        "done": 3.0,
        "cancelled": 2.0,
    }
    assert body["by_count"] == pytest.approx(1 / 5)
    assert body["by_points"] == pytest.approx(3 / 10)
    assert body["progress"] == pytest.approx(0.3)
    excluded = {e["reason"].split(" ")[0]: e["count"] for e in body["explanation"]["excluded"]}
    assert excluded == {"deleted": 1, "cancelled": 1, "manually": 1, "no": 2}
    assert "3 / (12 - 2)" in body["explanation"]["formula"]
    assert body["as_of"]
    assert body["health"] is None  # no dates


async def test_key_result_and_objective_progress(db, client, editor_headers) -> None:
    tree = await _tree(db, client, editor_headers)
    parent = await objective(client, editor_headers, title="Company")
    manual = await key_result(
        client, editor_headers, parent, start=20, target=40, current=25, weight=1
    )
    linked = await key_result(
        client, editor_headers, parent, progress_source="linked_work", weight=3
    )
    await client.patch(
        f"/api/v1/initiatives/{tree['initiative']}",
        json={"key_result_ids": [linked]},
        headers=editor_headers,
    )
    for key in ("PROJ-9", "PROJ-7"):  # X is also in the initiative: counted once
        await client.put(
            f"/api/v1/key-results/{linked}/work-items/{tree['keys'][key]}", headers=editor_headers
        )
    child = await objective(client, editor_headers, title="Team", parent_id=parent)
    await key_result(client, editor_headers, child, start=0, target=10, current=50)

    manual_body = (
        await client.get(f"/api/v1/key-results/{manual}/progress", headers=editor_headers)
    ).json()
    assert manual_body["progress"] == pytest.approx(0.25)
    assert "(25 - 20) / (40 - 20)" in manual_body["explanation"]["formula"]
    linked_body = (
        await client.get(f"/api/v1/key-results/{linked}/progress", headers=editor_headers)
    ).json()
    assert sum(linked_body["explanation"]["counts"].values()) == 7
    assert linked_body["by_points"] == pytest.approx(13 / 20)
    child_body = (
        await client.get(f"/api/v1/objectives/{child}/progress", headers=editor_headers)
    ).json()
    assert child_body["progress"] == pytest.approx(1.0)  # clipped
    parent_body = (
        await client.get(f"/api/v1/objectives/{parent}/progress", headers=editor_headers)
    ).json()
    assert parent_body["progress"] == pytest.approx((0.25 + 3 * 0.65 + 1.0) / 5)
    parts = {
        (c["node_type"], c["node_id"]): c["weight"]
        for c in parent_body["explanation"]["components"]
    }
    assert parts == {("key_result", manual): 1, ("key_result", linked): 3, ("objective", child): 1}


async def test_empty_nodes_have_no_progress(client, editor_headers) -> None:
    target = await initiative(client, editor_headers)
    body = (
        await client.get(f"/api/v1/initiatives/{target}/progress", headers=editor_headers)
    ).json()
    assert body["progress"] is None
    missing = await client.get("/api/v1/initiatives/999/progress", headers=editor_headers)
    assert missing.status_code == 404


async def test_portfolio_tree_with_epics_and_objective_filter(db, client, editor_headers) -> None:
    tree = await _tree(db, client, editor_headers)
    top = await objective(client, editor_headers, title="Top")
    other = await objective(client, editor_headers, title="Other")
    kr = await key_result(client, editor_headers, top, progress_source="linked_work")
    await client.patch(
        f"/api/v1/initiatives/{tree['initiative']}",
        json={"key_result_ids": [kr]},
        headers=editor_headers,
    )
    loose = await initiative(client, editor_headers, title="Loose")

    body = (await client.get("/api/v1/portfolio", headers=editor_headers)).json()
    assert [o["node_id"] for o in body["objectives"]] == [top, other]
    node = body["objectives"][0]["key_results"][0]["initiatives"][0]
    assert node["node_id"] == tree["initiative"]
    assert node["progress"] == pytest.approx(0.3)
    assert node["epics"] is None
    assert [i["node_id"] for i in body["unaligned_initiatives"]] == [loose]

    filtered = (
        await client.get(
            "/api/v1/portfolio",
            params={"objective_id": top, "include_epics": True},
            headers=editor_headers,
        )
    ).json()
    assert [o["node_id"] for o in filtered["objectives"]] == [top]
    assert filtered["unaligned_initiatives"] == []
    epics = filtered["objectives"][0]["key_results"][0]["initiatives"][0]["epics"]
    assert [e["node_id"] for e in epics] == [tree["keys"]["PROJ-1"]]
    # The epic with its live descendants: E, 2, 3, 4, 6 (8 is excluded, 5 deleted).
    assert sum(epics[0]["explanation"]["counts"].values()) == 5
    assert epics[0]["by_points"] == pytest.approx(3 / 10)
