"""Saving a rule re-applies it only where it can matter; preview is exactly what apply does."""

from tests.factories import item, make_source
from tests.rules.support import RULES, initiative, links, rule, upsert


async def _preview(client, headers, body: dict, rule_id: int | None = None) -> dict:
    payload = {"rule": body} if rule_id is None else {"rule": body, "rule_id": rule_id}
    response = await client.post(f"{RULES}/preview", json=payload, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_preview_of_new_rule_equals_apply_and_writes_nothing(
    db, client, admin_headers
) -> None:
    source = await make_source(db)
    target = await initiative(client, admin_headers)
    keys = await upsert(
        db, source, *(item(n, labels=["a"] if n % 2 else ["b"]) for n in range(1, 8))
    )
    body = {"name": "odd", "conditions": {"labels_any": ["a"]}, "target": {"initiative_id": target}}
    preview = await _preview(client, admin_headers, body)
    assert await links(db) == set()  # a dry run
    expected = {keys[f"PROJ-{n}"] for n in (1, 3, 5, 7)}
    assert preview["linked"] == 4 and preview["unlinked"] == 0
    assert {i["work_item_id"] for i in preview["linked_items"]} == expected
    assert preview["linked_items"][0]["key"] == "PROJ-1"
    assert preview["linked_items"][0]["source_id"] == source

    await client.post(RULES, json=body, headers=admin_headers)
    assert {i for i, *_ in await links(db)} == expected


async def test_editing_a_rule_moves_exactly_the_previewed_items(db, client, admin_headers) -> None:
    source = await make_source(db)
    first, second = await initiative(client, admin_headers), await initiative(client, admin_headers)
    keys = await upsert(
        db, source, item(1, labels=["a"]), item(2, labels=["a", "b"]), item(3, labels=["b"])
    )
    created = await rule(client, admin_headers, {"labels_any": ["a"]}, initiative_id=first)
    await rule(client, admin_headers, {"labels_any": ["b"]}, initiative_id=second, priority=200)
    before = await links(db)
    assert {(i, t) for i, _, t, _ in before} == {
        (keys["PROJ-1"], first),
        (keys["PROJ-2"], first),
        (keys["PROJ-3"], second),
    }

    edit = {
        "name": "r",
        "conditions": {"labels_all": ["a", "b"]},
        "target": {"initiative_id": first},
    }
    preview = await _preview(client, admin_headers, edit, created["id"])
    unlinked = {(i["work_item_id"], i["target_id"]) for i in preview["unlinked_items"]}
    linked = {(i["work_item_id"], i["target_id"]) for i in preview["linked_items"]}
    assert unlinked == {(keys["PROJ-1"], first)}
    assert linked == set()

    response = await client.patch(
        f"{RULES}/{created['id']}", json={"conditions": edit["conditions"]}, headers=admin_headers
    )
    assert response.status_code == 200
    after = {(i, t) for i, _, t, _ in await links(db)}
    assert {(i, t) for i, _, t, _ in before} - after == unlinked
    assert after - {(i, t) for i, _, t, _ in before} == linked
    # The item still linked by the edited rule carries its new version.
    assert (keys["PROJ-2"], "initiative", first, f"rule:{created['id']}@2") in await links(db)


async def test_retargeting_moves_items_and_preview_counts_both_sides(
    db, client, admin_headers
) -> None:
    source = await make_source(db)
    first, second = await initiative(client, admin_headers), await initiative(client, admin_headers)
    keys = await upsert(db, source, item(1), item(2))
    created = await rule(client, admin_headers, {"project": "PROJ"}, initiative_id=first)
    edit = {"name": "r", "conditions": {"project": "PROJ"}, "target": {"initiative_id": second}}
    preview = await _preview(client, admin_headers, edit, created["id"])
    assert (preview["linked"], preview["unlinked"]) == (2, 2)
    await client.patch(
        f"{RULES}/{created['id']}",
        json={"target": {"initiative_id": second}},
        headers=admin_headers,
    )
    assert {(i, t) for i, _, t, _ in await links(db)} == {
        (keys["PROJ-1"], second),
        (keys["PROJ-2"], second),
    }


async def test_saving_a_rule_evaluates_only_candidate_items(db, client, admin_headers) -> None:
    source = await make_source(db)
    target = await initiative(client, admin_headers)
    await upsert(db, source, *(item(n, project="OTHER") for n in range(1, 30)), item(99))
    body = {"name": "r", "conditions": {"project": "PROJ"}, "target": {"initiative_id": target}}
    preview = await _preview(client, admin_headers, body)
    assert preview["evaluated"] == 1  # the one PROJ item, not the 29 others


async def test_disabling_and_deleting_a_rule_remove_its_links(db, client, admin_headers) -> None:
    source = await make_source(db)
    first, second = await initiative(client, admin_headers), await initiative(client, admin_headers)
    keys = await upsert(db, source, item(1))
    a = await rule(client, admin_headers, {"project": "PROJ"}, initiative_id=first, priority=1)
    b = await rule(client, admin_headers, {"kind": "story"}, initiative_id=second, priority=2)
    await client.patch(f"{RULES}/{a['id']}", json={"enabled": False}, headers=admin_headers)
    assert await links(db) == {(keys["PROJ-1"], "initiative", second, f"rule:{b['id']}@1")}
    await client.delete(f"{RULES}/{b['id']}", headers=admin_headers)
    assert await links(db) == set()
