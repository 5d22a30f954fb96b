"""Rules admin API: CRUD, validation naming the bad field, versions, reorder, roles."""

from sqlalchemy import select
from sqlmodel import col

from schemas.tables import Change
from tests.factories import item, make_source
from tests.rules.support import RULES, initiative, key_result, links, objective, rule, upsert


async def test_crud_versions_and_created_by(db, client, admin_headers) -> None:
    target = await initiative(client, admin_headers)
    created = await rule(client, admin_headers, {"project": "PROJ"}, initiative_id=target)
    assert created["version"] == 1
    assert created["target"] == {"initiative_id": target}
    assert created["conditions"] == {"project": "PROJ", "include_descendants": False}

    patched = await client.patch(
        f"{RULES}/{created['id']}", json={"priority": 5, "name": "web"}, headers=admin_headers
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["version"], patched.json()["priority"]) == (2, 5)
    same = await client.patch(
        f"{RULES}/{created['id']}", json={"priority": 5}, headers=admin_headers
    )
    assert same.json()["version"] == 2  # nothing changed: no new version

    versions = (await client.get(f"{RULES}/{created['id']}/versions", headers=admin_headers)).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert {v["created_by"] for v in versions} == {"admin-key"}
    assert versions[0]["snapshot"]["priority"] == 100
    assert versions[1]["snapshot"]["name"] == "web"

    listed = (await client.get(RULES, headers=admin_headers)).json()
    assert [r["id"] for r in listed] == [created["id"]]
    got = await client.get(f"{RULES}/{created['id']}", headers=admin_headers)
    assert got.json()["name"] == "web"
    assert (
        await client.delete(f"{RULES}/{created['id']}", headers=admin_headers)
    ).status_code == 204
    assert (await client.get(f"{RULES}/{created['id']}", headers=admin_headers)).status_code == 404


async def test_invalid_rules_name_the_field(client, admin_headers) -> None:
    target = await initiative(client, admin_headers)
    cases = [
        ({"projekt": "X"}, "projekt"),
        ({"title_matches": "(unclosed"}, "title_matches"),
        ({"title_matches": "a" * 201}, "title_matches"),
        ({"status_category": "finished"}, "status_category"),
        ({"labels_any": []}, "labels_any"),
    ]
    for conditions, field in cases:
        response = await client.post(
            RULES,
            json={"name": "r", "conditions": conditions, "target": {"initiative_id": target}},
            headers=admin_headers,
        )
        assert response.status_code == 422, conditions
        assert field in response.json()["detail"], response.json()
    empty = await client.post(
        RULES,
        json={"name": "r", "conditions": {}, "target": {"initiative_id": target}},
        headers=admin_headers,
    )
    assert empty.status_code == 422
    assert "at least one condition" in empty.json()["detail"]
    both = await client.post(
        RULES,
        json={
            "name": "r",
            "conditions": {"kind": "bug"},
            "target": {"initiative_id": target, "key_result_id": 1},
        },
        headers=admin_headers,
    )
    assert both.status_code == 422
    assert "target" in both.json()["detail"]
    missing = await client.post(
        RULES,
        json={"name": "r", "conditions": {"kind": "bug"}, "target": {"initiative_id": 999}},
        headers=admin_headers,
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["body", "target", "initiative_id"]


async def test_rules_need_admin(client, editor_headers) -> None:
    assert (await client.get(RULES, headers=editor_headers)).status_code == 403


async def test_reorder_sets_priorities_and_changes_the_winner(db, client, admin_headers) -> None:
    source = await make_source(db)
    first, second = await initiative(client, admin_headers), await initiative(client, admin_headers)
    a = await rule(client, admin_headers, {"kind": "story"}, initiative_id=first, priority=1)
    b = await rule(client, admin_headers, {"project": "PROJ"}, initiative_id=second, priority=2)
    keys = await upsert(db, source, item(1))
    assert {(i, t) for i, _, t, _ in await links(db)} == {(keys["PROJ-1"], first)}

    response = await client.post(
        f"{RULES}/reorder", json={"rule_ids": [b["id"], a["id"]]}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert [(r["id"], r["priority"]) for r in response.json()] == [(b["id"], 10), (a["id"], 20)]
    assert await links(db) == {(keys["PROJ-1"], "initiative", second, f"rule:{b['id']}@2")}


async def test_priority_wins_per_target_type(db, client, admin_headers) -> None:
    source = await make_source(db)
    low, high = await initiative(client, admin_headers), await initiative(client, admin_headers)
    kr = await key_result(client, admin_headers, await objective(client, admin_headers))
    await rule(client, admin_headers, {"project": "PROJ"}, initiative_id=low, priority=50)
    winner = await rule(client, admin_headers, {"kind": "story"}, initiative_id=high, priority=10)
    on_kr = await rule(client, admin_headers, {"kind": "story"}, key_result_id=kr, priority=99)
    keys = await upsert(db, source, item(1))
    assert await links(db) == {
        (keys["PROJ-1"], "initiative", high, f"rule:{winner['id']}@1"),
        (keys["PROJ-1"], "key_result", kr, f"rule:{on_kr['id']}@1"),
    }


async def test_upsert_reevaluates_changed_items_and_feeds_changes(
    db, client, admin_headers
) -> None:
    source = await make_source(db)
    target = await initiative(client, admin_headers)
    created = await rule(client, admin_headers, {"labels_any": ["pay"]}, initiative_id=target)
    keys = await upsert(db, source, item(1, labels=["pay"]))
    assert len(await links(db)) == 1
    await upsert(db, source, item(1, minutes=5, labels=["other"]))  # no longer matches
    assert await links(db) == set()
    async with db.session() as session:
        rows = (
            await session.execute(
                select(col(Change.type), col(Change.entity_id), col(Change.cause))
                .where(col(Change.type).like("link.%"))
                .order_by(col(Change.id))
            )
        ).all()
    cause = f"rule:{created['id']}@1"
    assert [tuple(r) for r in rows] == [
        ("link.added", keys["PROJ-1"], cause),
        ("link.removed", keys["PROJ-1"], cause),
    ]
