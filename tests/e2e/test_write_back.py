"""End to end: write-back of initiative labels to the simulator, on both upstreams and both
database backends. Every count below is exact: writes are counted by the simulator, which
also judges rate limits and GitHub's one-second write spacing on the same virtual time line
the service sleeps through."""

from __future__ import annotations

from typing import Any

import pytest

from service.config import Settings
from service.security import SecretBox
from service.store.db import Database

from .write_back_support import Wiring, wired

ITEMS = 200
MOVED = 50
CHECKOUT, SEARCH = "initiative:checkout-revamp", "initiative:search-relaunch"


async def _setup(w: Wiring) -> dict[str, Any]:
    """Two initiatives; rule A links every item, rule B (first) the items labelled `team:move`."""
    api = w.api
    ids = {}
    for name, title in (("a", "Checkout revamp"), ("b", "Search relaunch")):
        ids[name] = (await api.post("/api/v1/initiatives", json={"title": title})).json()["id"]
    truth = await w.truth()
    movers = sorted(k for k, r in truth.items() if r["kind"] != "pull_request")[:MOVED]
    for key in movers:
        await w.sim.post("/_sim/labels", json={"key": key, "add": ["team:move"], "actor": "lead"})
    assert await w.drain_inbox() == MOVED
    rule_b = await api.post(
        "/api/v1/admin/mapping-rules",
        json={
            "name": "movers",
            "priority": 10,
            "conditions": {"source_id": w.source_id, "labels_any": ["team:move"]},
            "target": {"initiative_id": ids["a"]},
        },
    )
    assert rule_b.status_code == 201, rule_b.text
    rule_a = await api.post(
        "/api/v1/admin/mapping-rules",
        json={
            "name": "everything",
            "priority": 20,
            "conditions": {"source_id": w.source_id},
            "target": {"initiative_id": ids["a"]},
        },
    )
    assert rule_a.status_code == 201, rule_a.text
    return {"initiatives": ids, "rule_b": rule_b.json()["id"], "movers": movers}


def _labelled(truth: dict[str, dict[str, Any]], label: str) -> set[str]:
    return {k for k, r in truth.items() if label in r["labels"]}


@pytest.mark.parametrize("upstream", ["github", "jira"])
async def test_write_back_labels_moves_and_echoes(
    upstream: str,
    db: Database,
    service_settings: Settings,
    box: SecretBox,
    admin_headers: dict[str, str],
) -> None:
    async with wired(upstream, db, service_settings, box, admin_headers, items=ITEMS) as w:
        setup = await _setup(w)
        sid = w.source_id
        # Off by default: links exist, nothing is recorded or written.
        assert (await w.api.get(f"/api/v1/admin/sources/{sid}/write-back")).json()[
            "enabled"
        ] is False
        assert (await w.write()).writes == 0
        preview = (await w.api.get(f"/api/v1/admin/sources/{sid}/write-back/preview")).json()
        assert (preview["enabled"], preview["adds"], preview["removes"]) == (False, ITEMS, 0)
        assert await w.writes() == {}

        on = await w.api.put(f"/api/v1/admin/sources/{sid}/write-back", json={"enabled": True})
        assert on.status_code == 200, on.text
        # A 429 / secondary-limit storm during the first 200 writes.
        await w.sim.post("/_sim/stats/reset")
        started = w.time.time()
        storm = {"jira_429": 6, "github_secondary": 6, "retry_after": 3, "upstreams": [upstream]}
        await w.sim.post("/_sim/faults", json=storm)
        first = await w.write()
        await w.sim.post("/_sim/faults/clear")
        stats = await w.sim_stats()
        assert stats["rate_limit_violations"] == 0, stats["rate_limit_violations_by_upstream"]
        injected = stats["faults_injected"]
        assert injected == ({"github_secondary": 6} if upstream == "github" else {"jira_429": 6})
        truth = await w.truth()
        assert len(truth) == ITEMS and _labelled(truth, CHECKOUT) == set(truth)
        if upstream == "github":
            # One label per repository created with the configured colour, then 200 additions.
            assert await w.writes() == {"github:label_created": 3, "github:label_added": ITEMS}
            assert first.writes == ITEMS + 3
            # Every request: 203 writes plus the 6 refused by the secondary limit, and the
            # real one-second spacing kept on the virtual clock (202 gaps, plus 6 backoffs).
            assert stats["requests_by_upstream"] == {"github": ITEMS + 3 + 6}
            assert w.time.time() - started >= (ITEMS + 2) + 6 * 3
        else:
            assert await w.writes() == {
                "jira:label_added": ITEMS,
                "jira:issue_edits": ITEMS,
            }
            assert first.writes == ITEMS
            assert stats["requests_by_upstream"] == {"jira": ITEMS + 6}
        assert first.failed == 0

        # The echoes of our writes change no link and cause no further write.
        links_before = await w.link_changes()
        assert await w.drain_inbox() == ITEMS
        assert await w.link_changes() == links_before
        assert (await w.write()).writes == 0
        preview = (await w.api.get(f"/api/v1/admin/sources/{sid}/write-back/preview")).json()
        assert (preview["adds"], preview["removes"]) == (0, 0)
        before_move = await w.writes()

        # Editing rule B moves 50 items: exactly 50 removals and 50 additions.
        moved = await w.api.patch(
            f"/api/v1/admin/mapping-rules/{setup['rule_b']}",
            json={"target": {"initiative_id": setup["initiatives"]["b"]}},
        )
        assert moved.status_code == 200, moved.text
        preview = (await w.api.get(f"/api/v1/admin/sources/{sid}/write-back/preview")).json()
        assert (preview["adds"], preview["removes"]) == (MOVED, MOVED)
        second = await w.write()
        after_move = await w.writes()
        delta = {k: after_move.get(k, 0) - before_move.get(k, 0) for k in after_move}
        if upstream == "github":
            repos = len({k.split("#")[0] for k in setup["movers"]})
            assert delta == {
                "github:label_created": repos,
                "github:label_added": MOVED,
                "github:label_removed": MOVED,
            }
        else:
            assert delta == {
                "jira:label_added": MOVED,
                "jira:label_removed": MOVED,
                "jira:issue_edits": MOVED,
            }
        truth = await w.truth()
        assert _labelled(truth, SEARCH) == set(setup["movers"])
        assert _labelled(truth, CHECKOUT) == set(truth) - set(setup["movers"])
        assert second.failed == 0
        # GitHub sends an event per label change, Jira one per edit.
        assert await w.drain_inbox() == (2 * MOVED if upstream == "github" else MOVED)
        assert (await w.write()).writes == 0

        log = (
            await w.api.get(
                "/api/v1/admin/write-back/writes",
                params={"source_id": sid, "operation": "remove", "limit": 500},
            )
        ).json()
        assert len(log["items"]) == MOVED
        assert {(r["value"], r["status"]) for r in log["items"]} == {(CHECKOUT, "done")}
        sample = log["items"][0]
        assert CHECKOUT in sample["before"] and SEARCH in sample["after"]

        # Turned off, nothing more is written even though links move.
        off = await w.api.put(f"/api/v1/admin/sources/{sid}/write-back", json={"enabled": False})
        assert off.status_code == 200
        await w.api.patch(
            f"/api/v1/admin/mapping-rules/{setup['rule_b']}",
            json={"target": {"initiative_id": setup["initiatives"]["a"]}},
        )
        final = await w.writes()
        assert (await w.write()).writes == 0
        assert await w.writes() == final
        assert (await w.sim_stats())["rate_limit_violations"] == 0
