"""Manual links and exclusions beat rules; children inherit their epic's link."""

from sqlalchemy import select
from sqlmodel import col

from schemas.tables import Change
from tests.factories import item, make_source
from tests.rules.support import RULES, initiative, key_result, links, objective, rule, upsert


async def test_manual_link_wins_over_rules_and_rules_return_after(
    db, client, admin_headers, editor_headers
) -> None:
    source = await make_source(db)
    by_rule, by_hand = (
        await initiative(client, admin_headers),
        await initiative(client, admin_headers),
    )
    created = await rule(client, admin_headers, {"project": "PROJ"}, initiative_id=by_rule)
    keys = await upsert(db, source, item(1))
    path = f"/api/v1/initiatives/{by_hand}/work-items/{keys['PROJ-1']}"
    response = await client.put(path, headers=editor_headers)
    assert response.status_code == 200, response.text
    assert response.json()["provenance"] == "manual:editor-key"
    assert await links(db) == {(keys["PROJ-1"], "initiative", by_hand, "manual:editor-key")}

    await upsert(db, source, item(1, minutes=3, title="changed"))  # the rule still matches
    assert await links(db) == {(keys["PROJ-1"], "initiative", by_hand, "manual:editor-key")}

    assert (await client.delete(path, headers=editor_headers)).status_code == 204
    assert await links(db) == {(keys["PROJ-1"], "initiative", by_rule, f"rule:{created['id']}@1")}
    assert (await client.delete(path, headers=editor_headers)).status_code == 404


async def test_exclusion_cannot_be_overridden_by_rules(
    db, client, admin_headers, editor_headers
) -> None:
    source = await make_source(db)
    first, second = await initiative(client, admin_headers), await initiative(client, admin_headers)
    await rule(client, admin_headers, {"project": "PROJ"}, initiative_id=first, priority=1)
    fallback = await rule(
        client, admin_headers, {"kind": "story"}, initiative_id=second, priority=2
    )
    keys = await upsert(db, source, item(1))
    response = await client.put(
        f"/api/v1/initiatives/{first}/work-items/{keys['PROJ-1']}",
        json={"exclude": True},
        headers=editor_headers,
    )
    assert response.json()["excluded"] is True
    # The next rule in priority takes over; the excluded target never comes back.
    assert await links(db) == {
        (keys["PROJ-1"], "initiative", first, "manual:editor-key"),
        (keys["PROJ-1"], "initiative", second, f"rule:{fallback['id']}@1"),
    }
    await client.patch(f"{RULES}/{fallback['id']}", json={"enabled": False}, headers=admin_headers)
    await upsert(db, source, item(1, minutes=3, title="again"))
    listed = await client.get(
        "/api/v1/work-items", params={"initiative_id": first}, headers=editor_headers
    )
    assert listed.json()["items"] == []
    async with db.session() as session:
        causes = set(
            (
                await session.execute(
                    select(col(Change.cause)).where(col(Change.type) == "link.removed")
                )
            ).scalars()
        )
    assert "api:editor-key" in causes


async def test_manual_key_result_link_and_reader_cannot_link(
    db, client, admin_headers, editor_headers, reader_headers
) -> None:
    source = await make_source(db)
    kr = await key_result(client, admin_headers, await objective(client, admin_headers))
    keys = await upsert(db, source, item(1))
    path = f"/api/v1/key-results/{kr}/work-items/{keys['PROJ-1']}"
    assert (await client.put(path, headers=reader_headers)).status_code == 403
    assert (await client.put(path, headers=editor_headers)).status_code == 200
    assert await links(db) == {(keys["PROJ-1"], "key_result", kr, "manual:editor-key")}
    missing = await client.put(
        f"/api/v1/key-results/{kr}/work-items/999999", headers=editor_headers
    )
    assert missing.status_code == 404


async def test_children_inherit_the_epic_link_unless_linked_otherwise(
    db, client, admin_headers, editor_headers, reader_headers
) -> None:
    source = await make_source(db)
    epic_target, other = (
        await initiative(client, admin_headers),
        await initiative(client, admin_headers),
    )
    await rule(client, admin_headers, {"kind": "epic"}, initiative_id=epic_target)
    keys = await upsert(
        db,
        source,
        item(1, kind="epic"),
        item(2, parent_key="PROJ-1"),
        item(3, parent_key="PROJ-2", kind="subtask"),
        item(4, parent_key="PROJ-1"),
    )
    await client.put(
        f"/api/v1/initiatives/{other}/work-items/{keys['PROJ-4']}", headers=editor_headers
    )
    grandchild = await client.get(
        f"/api/v1/work-items/{keys['PROJ-3']}/links", headers=reader_headers
    )
    assert [(ln["target_id"], ln["via"]) for ln in grandchild.json()] == [
        (epic_target, "inherited")
    ]
    assert grandchild.json()[0]["provenance"].startswith("inherited:PROJ-1:rule:")
    own = await client.get(f"/api/v1/work-items/{keys['PROJ-4']}/links", headers=reader_headers)
    assert [(ln["target_id"], ln["via"]) for ln in own.json()] == [(other, "direct")]

    progress = await client.get(
        f"/api/v1/initiatives/{epic_target}/progress", headers=reader_headers
    )
    assert sum(progress.json()["explanation"]["counts"].values()) == 3  # epic, child, grandchild
