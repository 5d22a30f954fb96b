"""A small seeded portfolio for the page tests: two objectives, key results, initiatives, work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import httpx
import pytest

from tests.factories import item, make_source
from tests.rules.support import ids, initiative, key_result, objective, rule, upsert


@dataclass
class Seeded:
    source_id: int
    objectives: dict[str, int]
    key_results: dict[str, int]
    initiatives: dict[str, int]
    items: dict[str, int]


@pytest.fixture
async def seeded(client: httpx.AsyncClient, db, admin_headers: dict[str, str]) -> Seeded:  # type: ignore[no-untyped-def]
    today = date.today()
    start, target = str(today - timedelta(days=30)), str(today + timedelta(days=30))
    mobile = await objective(client, admin_headers, title="Win on mobile", owner="cpo")
    platform = await objective(client, admin_headers, title="Scale the platform", owner="cto")
    roadmap = await key_result(
        client,
        admin_headers,
        mobile,
        title="Ship the roadmap",
        progress_source="linked_work",
        start_date=start,
        target_date=target,
    )
    crash = await key_result(
        client, admin_headers, mobile, title="Crash-free", start=97, target=99.5, current=98.6
    )
    delivery = await key_result(
        client, admin_headers, platform, title="Deliver", progress_source="linked_work"
    )
    app_v2 = await initiative(
        client,
        admin_headers,
        title="Mobile app v2",
        owner="team-mobile",
        start_date=start,
        target_date=target,
        key_result_ids=[roadmap],
    )
    reliability = await initiative(
        client, admin_headers, title="Reliability", owner="team-platform", key_result_ids=[delivery]
    )
    loose = await initiative(client, admin_headers, title="Unaligned idea", owner="team-mobile")
    source_id = await make_source(db)
    epic = item(1, key="MOB-1", kind="epic", title="Offline mode", project="MOB")
    children = [
        item(
            2,
            key="MOB-2",
            project="MOB",
            parent_key="MOB-1",
            parent_external_id="ext-1",
            status="Done",
            status_category="done",
            estimate=3.0,
            assignee="ana",
            url="https://jira.example/browse/MOB-2",
        ),
        item(
            3,
            key="MOB-3",
            project="MOB",
            parent_key="MOB-1",
            parent_external_id="ext-1",
            estimate=5.0,
            url="javascript:alert(1)",  # never rendered as a link
        ),
        item(
            4,
            key="MOB-4",
            project="MOB",
            parent_key="MOB-1",
            parent_external_id="ext-1",
            status="Won't do",
            status_category="cancelled",
        ),
    ]
    platform_items = [
        item(n, key=f"PLAT-{n}", project="PLAT", status_category=cat, status=cat)
        for n, cat in ((10, "done"), (11, "in_progress"), (12, "todo"))
    ]
    await upsert(db, source_id, epic, *children, *platform_items)
    # The epic is linked by a rule; its stories count through it (inherited).
    await rule(client, admin_headers, {"project": "MOB", "kind": "epic"}, initiative_id=app_v2)
    await rule(client, admin_headers, {"project": "PLAT"}, initiative_id=reliability)
    return Seeded(
        source_id=source_id,
        objectives={"mobile": mobile, "platform": platform},
        key_results={"roadmap": roadmap, "crash": crash, "delivery": delivery},
        initiatives={"app_v2": app_v2, "reliability": reliability, "loose": loose},
        items=await ids(db),
    )
