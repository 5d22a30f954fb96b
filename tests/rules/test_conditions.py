"""Each condition type, evaluated on the upsert path against real items."""

from typing import Any

import pytest

from tests.factories import item, make_source
from tests.rules.support import initiative, linked_items, rule, upsert

CASES: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    # (conditions, overrides of a matching item, overrides of a non-matching item)
    ({"project": "WEB"}, {"project": "WEB"}, {"project": "API"}),
    ({"kind": "bug"}, {"kind": "bug"}, {"kind": "story"}),
    ({"issue_type": "Spike"}, {"issue_type": "Spike"}, {"issue_type": "Story"}),
    ({"labels_any": ["a", "b"]}, {"labels": ["b", "z"]}, {"labels": ["z"]}),
    ({"labels_all": ["a", "b"]}, {"labels": ["a", "b", "c"]}, {"labels": ["a"]}),
    ({"components_any": ["ui"]}, {"components": ["ui", "db"]}, {"components": ["db"]}),
    ({"milestone": "v2"}, {"milestone": "v2"}, {"milestone": "v1"}),
    ({"status_category": "in_progress"}, {"status_category": "in_progress"}, {}),
    ({"assignee": "ana"}, {"assignee": "ana"}, {"assignee": "bo"}),
    ({"title_matches": "^Pay(ment)?s? "}, {"title": "Payments v2"}, {"title": "Repay x"}),
    ({"parent_key": "PROJ-1"}, {"parent_key": "PROJ-1"}, {"parent_key": "PROJ-9"}),
]


@pytest.mark.parametrize(("conditions", "hit", "miss"), CASES, ids=[str(c[0]) for c in CASES])
async def test_condition_links_matching_items_only(
    db, client, admin_headers, conditions, hit, miss
) -> None:
    source = await make_source(db)
    target = await initiative(client, admin_headers)
    await rule(client, admin_headers, conditions, initiative_id=target)
    keys = await upsert(db, source, item(2, **hit), item(3, **miss))
    assert await linked_items(db, "initiative", target) == {keys["PROJ-2"]}


async def test_source_id_condition(db, client, admin_headers) -> None:
    jira = await make_source(db)
    other = await make_source(db, name="jira-two")
    target = await initiative(client, admin_headers)
    await rule(client, admin_headers, {"source_id": other}, initiative_id=target)
    await upsert(db, jira, item(1))
    keys = await upsert(db, other, item(2))
    assert await linked_items(db, "initiative", target) == {keys["PROJ-2"]}


async def test_parent_key_with_descendants_matches_any_depth(db, client, admin_headers) -> None:
    source = await make_source(db)
    target = await initiative(client, admin_headers)
    await rule(
        client,
        admin_headers,
        {"parent_key": "PROJ-12", "include_descendants": True},
        initiative_id=target,
    )
    keys = await upsert(
        db,
        source,
        item(12, kind="epic"),
        item(13, parent_key="PROJ-12"),
        item(14, parent_key="PROJ-13", kind="subtask"),
        item(15, parent_key="PROJ-99"),
    )
    assert await linked_items(db, "initiative", target) == {keys["PROJ-13"], keys["PROJ-14"]}


async def test_all_conditions_must_hold(db, client, admin_headers) -> None:
    source = await make_source(db)
    target = await initiative(client, admin_headers)
    await rule(
        client, admin_headers, {"project": "PROJ", "labels_any": ["x"]}, initiative_id=target
    )
    keys = await upsert(db, source, item(1, labels=["x"]), item(2, labels=["y"]))
    assert await linked_items(db, "initiative", target) == {keys["PROJ-1"]}
