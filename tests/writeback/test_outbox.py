"""The outbox: every link change (rule, manual, inherited) records desired labels in its own
transaction, only for write-back sources, with only the items whose labels can change."""

from tests.factories import item, make_source
from tests.rules.support import initiative, key_result, objective, rule, upsert

from .support import desired, enable, outbox


async def test_nothing_is_recorded_while_write_back_is_off(db, client, admin_headers) -> None:
    source = await make_source(db)
    target = await initiative(client, admin_headers, title="Checkout revamp")
    await rule(client, admin_headers, {"project": "PROJ"}, initiative_id=target)
    await upsert(db, source, item(1), item(2))
    assert await outbox(db) == {}


async def test_turning_it_on_records_every_linked_item(db, client, admin_headers) -> None:
    source = await make_source(db)
    other = await make_source(db, name="other")
    target = await initiative(client, admin_headers, title="Checkout Revamp!")
    await rule(client, admin_headers, {"project": "PROJ"}, initiative_id=target)
    keys = await upsert(db, source, item(1), item(2), item(3, project="ELSE"))
    await upsert(db, other, item(9, key="PROJ-9"))
    await enable(client, admin_headers, source)
    rows = await outbox(db)
    # The unlinked item and the other source's item get no row.
    assert {i: (r.desired, r.status) for i, r in rows.items()} == {
        keys["PROJ-1"]: (["initiative:checkout-revamp"], "pending"),
        keys["PROJ-2"]: (["initiative:checkout-revamp"], "pending"),
    }


async def test_inherited_links_follow_the_parent(db, client, admin_headers) -> None:
    source = await make_source(db)
    await enable(client, admin_headers, source, label_prefix="init/")
    first = await initiative(client, admin_headers, title="First")
    second = await initiative(client, admin_headers, title="Second")
    keys = await upsert(
        db,
        source,
        item(1, kind="epic"),
        item(2, parent_key="PROJ-1"),
        item(3, parent_key="PROJ-2", kind="subtask"),
    )
    epic, story, sub = keys["PROJ-1"], keys["PROJ-2"], keys["PROJ-3"]
    put = await client.put(f"/api/v1/initiatives/{first}/work-items/{epic}", headers=admin_headers)
    assert put.status_code == 200, put.text
    assert await desired(db) == {epic: ["init/first"], story: ["init/first"], sub: ["init/first"]}

    # Moving the epic's link moves the whole subtree; the story's own exclusion cuts it off.
    await client.delete(f"/api/v1/initiatives/{first}/work-items/{epic}", headers=admin_headers)
    await client.put(f"/api/v1/initiatives/{second}/work-items/{epic}", headers=admin_headers)
    assert await desired(db) == {
        epic: ["init/second"],
        story: ["init/second"],
        sub: ["init/second"],
    }
    await client.put(
        f"/api/v1/initiatives/{second}/work-items/{story}",
        json={"exclude": True},
        headers=admin_headers,
    )
    assert await desired(db) == {epic: ["init/second"], story: [], sub: []}


async def test_key_result_labels_only_when_configured(db, client, admin_headers) -> None:
    source = await make_source(db)
    kr = await key_result(
        client, admin_headers, await objective(client, admin_headers), title="Conversion +5%"
    )
    keys = await upsert(db, source, item(1))
    await client.put(f"/api/v1/key-results/{kr}/work-items/{keys['PROJ-1']}", headers=admin_headers)
    await enable(client, admin_headers, source)
    assert await outbox(db) == {}
    await enable(client, admin_headers, source, key_result_prefix="kr:")
    assert await desired(db) == {keys["PROJ-1"]: ["kr:conversion-5"]}


async def test_an_item_no_rule_matches_any_more_wants_no_labels(db, client, admin_headers) -> None:
    source = await make_source(db)
    target = await initiative(client, admin_headers, title="T")
    await rule(client, admin_headers, {"project": "PROJ"}, initiative_id=target)
    await enable(client, admin_headers, source)
    keys = await upsert(db, source, item(1))
    assert await desired(db) == {keys["PROJ-1"]: ["initiative:t"]}
    # The rule stops matching: the row now wants nothing, and nothing was written yet.
    await upsert(db, source, item(1, minutes=5, project="OTHER"))
    rows = await outbox(db)
    assert (rows[keys["PROJ-1"]].desired, rows[keys["PROJ-1"]].status) == ([], "synced")


async def test_a_renamed_or_deleted_initiative_changes_the_labels(
    db, client, admin_headers
) -> None:
    source = await make_source(db)
    await enable(client, admin_headers, source)
    target = await initiative(client, admin_headers, title="Old name")
    await rule(client, admin_headers, {"project": "PROJ"}, initiative_id=target)
    keys = await upsert(db, source, item(1))
    assert await desired(db) == {keys["PROJ-1"]: ["initiative:old-name"]}
    renamed = await client.patch(
        f"/api/v1/initiatives/{target}", json={"title": "New name"}, headers=admin_headers
    )
    assert renamed.status_code == 200, renamed.text
    assert await desired(db) == {keys["PROJ-1"]: ["initiative:new-name"]}
    assert (
        await client.delete(f"/api/v1/initiatives/{target}", headers=admin_headers)
    ).status_code == 204
    assert await desired(db) == {keys["PROJ-1"]: []}
