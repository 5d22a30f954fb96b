"""End to end: a person's upstream edit of a written label under each conflict policy."""

from __future__ import annotations

import pytest

from service.config import Settings
from service.security import SecretBox
from service.store.db import Database

from .write_back_support import Wiring, wired

CHECKOUT, SEARCH = "initiative:checkout-revamp", "initiative:search-relaunch"


async def _edit(w: Wiring, key: str, actor: str, *, add: str = "", remove: str = "") -> None:
    body = {"key": key, "add": [add] if add else [], "remove": [remove] if remove else []}
    answer = await w.sim.post("/_sim/labels", json=body | {"actor": actor})
    assert answer.status_code == 200, answer.text
    assert await w.drain_inbox() == 1


async def _written(w: Wiring) -> tuple[int, dict[str, int]]:
    """Writes the worker makes now, and the simulator's write counters after them."""
    report = await w.write()
    assert report.failed == 0
    return report.writes, await w.writes()


def _grew(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


@pytest.mark.parametrize("upstream", ["github", "jira"])
async def test_store_wins_once_then_upstream_wins_as_manual_links(
    upstream: str,
    db: Database,
    service_settings: Settings,
    box: SecretBox,
    admin_headers: dict[str, str],
) -> None:
    async with wired(upstream, db, service_settings, box, admin_headers, items=30) as w:
        api, sid = w.api, w.source_id
        checkout = (await api.post("/api/v1/initiatives", json={"title": "Checkout revamp"})).json()
        search = (await api.post("/api/v1/initiatives", json={"title": "Search relaunch"})).json()
        rule = await api.post(
            "/api/v1/admin/mapping-rules",
            json={
                "name": "all",
                "conditions": {"source_id": sid},
                "target": {"initiative_id": checkout["id"]},
            },
        )
        assert rule.status_code == 201
        await api.put(f"/api/v1/admin/sources/{sid}/write-back", json={"enabled": True})
        assert (await w.write()).writes >= 30
        await w.drain_inbox()
        truth = await w.truth()
        keys = sorted(k for k, r in truth.items() if r["kind"] != "pull_request")
        x, y, z = keys[:3]
        assert all(CHECKOUT in truth[k]["labels"] for k in (x, y, z))
        links = await w.link_changes()

        # store_wins: a removed label is written again, once.
        await _edit(w, x, "alice", remove=CHECKOUT)
        before = await w.writes()
        count, after = await _written(w)
        assert count == 1
        assert _grew(before, after) == (
            {"github:label_added": 1}
            if upstream == "github"
            else {"jira:label_added": 1, "jira:issue_edits": 1}
        )
        assert CHECKOUT in (await w.truth())[x]["labels"]
        assert await w.drain_inbox() == 1 and (await w.write()).writes == 0
        # Removed a second time, it stays removed: no fight with a person.
        await _edit(w, x, "alice", remove=CHECKOUT)
        assert (await w.write()).writes == 0
        assert CHECKOUT not in (await w.truth())[x]["labels"]
        # A label a person adds is theirs: kept, and no link changes.
        await _edit(w, x, "alice", add=SEARCH)
        assert (await w.write()).writes == 0
        assert await w.link_changes() == links
        preview = (await api.get(f"/api/v1/admin/sources/{sid}/write-back/preview")).json()
        assert (preview["adds"], preview["removes"]) == (0, 0)

        # upstream_wins: a removal becomes a manual exclusion, an addition a manual link.
        policy = await api.put(
            f"/api/v1/admin/sources/{sid}/write-back",
            json={"enabled": True, "policy": "upstream_wins"},
        )
        assert policy.status_code == 200 and policy.json()["policy"] == "upstream_wins"
        await _edit(w, y, "bob", remove=CHECKOUT)
        assert (await w.write()).writes == 0
        bob = "bob" if upstream == "github" else "712020:bob"
        y_links = (await api.get(f"/api/v1/work-items/{await w.item_id(y)}/links")).json()
        assert [(link["target_id"], link["excluded"], link["provenance"]) for link in y_links] == [
            (checkout["id"], True, f"upstream:{bob}")
        ]

        await _edit(w, z, "carol", add=SEARCH)
        before = await w.writes()
        count, after = await _written(w)
        # The store now says Search relaunch (manual, from upstream): our old label goes.
        assert count == 1
        assert _grew(before, after) == (
            {"github:label_removed": 1}
            if upstream == "github"
            else {"jira:label_removed": 1, "jira:issue_edits": 1}
        )
        carol = "carol" if upstream == "github" else "712020:carol"
        z_links = (await api.get(f"/api/v1/work-items/{await w.item_id(z)}/links")).json()
        assert {(link["target_id"], link["provenance"]) for link in z_links} == {
            (search["id"], f"upstream:{carol}")
        }
        assert (await w.truth())[z]["labels"].count(SEARCH) == 1
        assert CHECKOUT not in (await w.truth())[z]["labels"]
        assert await w.drain_inbox() == 1 and (await w.write()).writes == 0
        assert (await w.sim_stats())["rate_limit_violations"] == 0
