"""Node pages: explanation, burn-up chart, items with provenance, editor actions and CSRF."""

from __future__ import annotations

from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import func, select

from schemas.enums import Role
from schemas.tables import WorkItemLink
from service.store.db import Database
from tests.web.conftest import Seeded
from tests.web.support import csrf_for, data_nodes, signed_in_as

SVG = "{http://www.w3.org/2000/svg}"


async def _link_rows(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(WorkItemLink)) or 0)


async def test_initiative_page_shows_chart_items_and_provenance(
    client: httpx.AsyncClient, db: Database, seeded: Seeded, reader_headers: dict[str, str]
) -> None:
    initiative_id = seeded.initiatives["app_v2"]
    await signed_in_as(client, db, Role.reader)
    page = await client.get(f"/initiatives/{initiative_id}")
    assert page.status_code == 200, page.text
    html = page.text
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    texts = [t.text for t in ElementTree.fromstring(svg).iter(f"{SVG}text")]
    assert "Date" in texts and "Items" in texts
    assert any(t and t[:2] == "20" and t.count("-") == 2 for t in texts)  # dates on the x axis
    rows = {n["item-id"]: n for n in data_nodes(html, "item-id")}
    epic, story = seeded.items["MOB-1"], seeded.items["MOB-2"]
    assert rows[str(epic)]["provenance"].startswith("rule:")
    assert rows[str(epic)]["provenance"].endswith("@1")
    assert rows[str(story)]["via"] == "MOB-1"
    assert "inherited via" in html
    assert str(seeded.items["PLAT-10"]) not in rows
    # Keys link to the upstream page; a stored URL that is not http(s) is not a link.
    assert 'href="https://jira.example/browse/MOB-2"' in html
    assert "javascript:" not in html
    # The summary states the API's numbers.
    api = (
        await client.get(f"/api/v1/initiatives/{initiative_id}/progress", headers=reader_headers)
    ).json()
    summary = data_nodes(html, "node-type")[0]
    assert summary["progress"] == repr(api["progress"])
    assert "by_points" in html and "cancelled" in html
    # A reader sees no editor forms.
    assert f'action="/initiatives/{initiative_id}/links"' not in html


async def test_chart_in_points_and_other_node_pages(
    client: httpx.AsyncClient, db: Database, seeded: Seeded
) -> None:
    await signed_in_as(client, db, Role.reader)
    points = await client.get(f"/initiatives/{seeded.initiatives['app_v2']}?measure=points")
    assert points.status_code == 200 and ">Points</text>" in points.text
    kr = await client.get(f"/key-results/{seeded.key_results['roadmap']}")
    assert kr.status_code == 200 and "Ship the roadmap" in kr.text and "<svg" in kr.text
    manual = await client.get(f"/key-results/{seeded.key_results['crash']}")
    assert manual.status_code == 200 and "98.6" in manual.text
    objective = await client.get(f"/objectives/{seeded.objectives['mobile']}")
    assert objective.status_code == 200
    assert "Parts averaged" in objective.text and "Crash-free" in objective.text
    missing = await client.get("/initiatives/999999")
    assert missing.status_code == 404 and "does not exist" in missing.text


async def test_editor_links_excludes_and_removes_by_hand(
    client: httpx.AsyncClient, db: Database, seeded: Seeded
) -> None:
    initiative_id = seeded.initiatives["reliability"]
    base = f"/initiatives/{initiative_id}"
    await signed_in_as(client, db, Role.editor)
    token = await csrf_for(client, base)
    response = await client.post(f"{base}/links", data={"csrf_token": token, "item": "MOB-3"})
    assert response.status_code == 303
    page = (await client.get(base)).text
    rows = {n["item-id"]: n for n in data_nodes(page, "item-id")}
    assert rows[str(seeded.items["MOB-3"])]["provenance"] == "manual:web-editor"
    assert "Remove manual link" in page

    plat = seeded.items["PLAT-11"]
    response = await client.post(f"{base}/links/{plat}/exclude", data={"csrf_token": token})
    assert response.status_code == 303
    page = (await client.get(base)).text
    assert str(plat) not in {n["item-id"] for n in data_nodes(page, "item-id")}
    assert str(plat) in {n["excluded-item-id"] for n in data_nodes(page, "excluded-item-id")}

    response = await client.post(f"{base}/links/{plat}/remove", data={"csrf_token": token})
    assert response.status_code == 303
    page = (await client.get(base)).text
    assert str(plat) in {n["item-id"] for n in data_nodes(page, "item-id")}


async def test_link_errors_stay_on_the_page_with_what_was_typed(
    client: httpx.AsyncClient, db: Database, seeded: Seeded
) -> None:
    base = f"/initiatives/{seeded.initiatives['reliability']}"
    await signed_in_as(client, db, Role.editor)
    token = await csrf_for(client, base)
    before = await _link_rows(db)
    response = await client.post(f"{base}/links", data={"csrf_token": token, "item": "NOPE-404"})
    assert response.status_code == 422
    assert 'id="e-item"' in response.text and "no work item has the id or key" in response.text
    assert 'value="NOPE-404"' in response.text
    assert await _link_rows(db) == before


@pytest.mark.parametrize("token", [None, "forged-token"])
async def test_editor_action_without_a_valid_csrf_token_is_refused(
    client: httpx.AsyncClient, db: Database, seeded: Seeded, token: str | None
) -> None:
    base = f"/initiatives/{seeded.initiatives['reliability']}"
    await signed_in_as(client, db, Role.editor)
    before = await _link_rows(db)
    data = {"item": "MOB-3"} | ({"csrf_token": token} if token else {})
    response = await client.post(f"{base}/links", data=data)
    assert response.status_code == 403
    assert "security token" in response.text
    assert await _link_rows(db) == before


async def test_csrf_token_of_another_session_is_refused(
    client: httpx.AsyncClient, db: Database, seeded: Seeded
) -> None:
    base = f"/initiatives/{seeded.initiatives['reliability']}"
    await signed_in_as(client, db, Role.editor)
    stale = await csrf_for(client, base)
    await signed_in_as(client, db, Role.admin)  # a new sign-in: a new session nonce
    before = await _link_rows(db)
    response = await client.post(f"{base}/links", data={"csrf_token": stale, "item": "MOB-3"})
    assert response.status_code == 403
    assert await _link_rows(db) == before


async def test_reader_gets_403_on_editor_actions(
    client: httpx.AsyncClient, db: Database, seeded: Seeded
) -> None:
    base = f"/initiatives/{seeded.initiatives['reliability']}"
    await signed_in_as(client, db, Role.reader)
    token = await csrf_for(client, base)
    before = await _link_rows(db)
    for path in (f"{base}/links", f"{base}/links/{seeded.items['PLAT-10']}/exclude"):
        response = await client.post(path, data={"csrf_token": token, "item": "MOB-3"})
        assert response.status_code == 403, path
        assert "needs the editor role" in response.text
    assert await _link_rows(db) == before
