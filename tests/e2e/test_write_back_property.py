"""End to end: the Jira issue entity property `portfolio`, written beside the labels; its
`issue_property_set` echoes change nothing."""

from __future__ import annotations

from service.config import Settings
from service.security import SecretBox
from service.store.db import Database

from .write_back_support import wired

ITEMS = 30


async def test_jira_property_holds_initiatives_and_key_results(
    db: Database, service_settings: Settings, box: SecretBox, admin_headers: dict[str, str]
) -> None:
    async with wired("jira", db, service_settings, box, admin_headers, items=ITEMS) as w:
        api, sid = w.api, w.source_id
        objective = (await api.post("/api/v1/objectives", json={"title": "Grow"})).json()
        kr = (
            await api.post(
                "/api/v1/key-results", json={"objective_id": objective["id"], "title": "Conversion"}
            )
        ).json()
        target = (await api.post("/api/v1/initiatives", json={"title": "Checkout revamp"})).json()
        for kind, target_id in (("initiative_id", target["id"]), ("key_result_id", kr["id"])):
            created = await api.post(
                "/api/v1/admin/mapping-rules",
                json={"name": kind, "conditions": {"source_id": sid}, "target": {kind: target_id}},
            )
            assert created.status_code == 201, created.text
        config = {"enabled": True, "jira_property": True, "key_result_prefix": "kr:"}
        on = await api.put(f"/api/v1/admin/sources/{sid}/write-back", json=config)
        assert on.status_code == 200, on.text
        preview = (await api.get(f"/api/v1/admin/sources/{sid}/write-back/preview")).json()
        assert sorted({i["field"] for i in preview["items"]}) == ["labels", "property"]
        assert len(preview["items"]) == 2 * ITEMS

        report = await w.write()
        assert (report.writes, report.failed) == (3 * ITEMS, 0)  # two labels + one property each
        assert await w.writes() == {
            "jira:label_added": 2 * ITEMS,
            "jira:issue_edits": ITEMS,
            "jira:property_set": ITEMS,
        }
        key = sorted(await w.truth())[0]
        stored = await w.sim.get(
            f"/jira/rest/api/3/issue/{key}/properties/portfolio",
            auth=("sync@example.com", "jira-e2e-token"),
        )
        assert stored.json()["value"] == {
            "initiatives": ["checkout-revamp"],
            "key_results": ["conversion"],
            "by": "portfolio-sync",
        }
        # Label echoes upsert (and change nothing); property echoes are ignored events.
        links = await w.link_changes()
        assert await w.drain_inbox() == ITEMS
        ignored = await api.get(
            "/api/v1/admin/webhook-deliveries",
            params={"status": "ignored", "event": "issue_property_set", "limit": 100},
        )
        assert len(ignored.json()["items"]) == ITEMS
        assert await w.link_changes() == links
        assert (await w.write()).writes == 0
        log = (
            await api.get(
                "/api/v1/admin/write-back/writes",
                params={"source_id": sid, "operation": "set", "limit": 100},
            )
        ).json()["items"]
        assert len(log) == ITEMS and {w["field"] for w in log} == {"property"}
