"""Work-item search (the API's filters, cursor paging) and the item page."""

from __future__ import annotations

import re

import httpx

from schemas.enums import Role
from service.store.db import Database
from tests.factories import item, make_source
from tests.rules.support import upsert
from tests.web.conftest import Seeded
from tests.web.support import data_nodes, signed_in_as

_NEXT = re.compile(r'href="(/work-items\?[^"]*)" rel="next"')


def _ids(html: str) -> list[int]:
    return [int(n["item-id"]) for n in data_nodes(html, "item-id")]


async def test_paging_visits_every_item_once_in_order(
    client: httpx.AsyncClient, db: Database
) -> None:
    source_id = await make_source(db)
    await upsert(db, source_id, *(item(n, title=f"Paged {n}") for n in range(1, 121)))
    await upsert(db, source_id, item(500, title="Other thing"))
    await signed_in_as(client, db, Role.reader)
    seen: list[int] = []
    path: str | None = "/work-items?q=paged"
    pages = 0
    while path is not None:
        page = await client.get(path.replace("&amp;", "&"))
        assert page.status_code == 200, page.text
        seen += _ids(page.text)
        found = _NEXT.search(page.text)
        path = found.group(1) if found else None
        pages += 1
    assert pages == 3
    assert len(seen) == 120 and len(set(seen)) == 120 and seen == sorted(seen)


async def test_filters_match_the_api(
    client: httpx.AsyncClient, db: Database, seeded: Seeded, reader_headers: dict[str, str]
) -> None:
    await signed_in_as(client, db, Role.reader)
    for params in (
        {"status_category": "done"},
        {"initiative_id": seeded.initiatives["app_v2"]},
        {"kind": "epic", "source_id": seeded.source_id},
        {"q": "PLAT"},
    ):
        page = await client.get("/work-items", params=params)
        assert page.status_code == 200
        api = await client.get("/api/v1/work-items", params=params, headers=reader_headers)
        expected = [row["id"] for row in api.json()["items"]]
        assert expected, params
        assert _ids(page.text) == expected, params


async def test_invalid_search_keeps_what_was_typed(
    client: httpx.AsyncClient, db: Database, seeded: Seeded
) -> None:
    await signed_in_as(client, db, Role.reader)
    typed = "y" * 201
    page = await client.get("/work-items", params={"q": typed, "source_id": "abc"})
    assert page.status_code == 422
    assert 'id="e-q"' in page.text and 'id="e-source_id"' in page.text
    assert f'value="{typed}"' in page.text
    bad_cursor = await client.get("/work-items", params={"cursor": "not-a-cursor"})
    assert bad_cursor.status_code == 422 and "cursor is not valid" in bad_cursor.text


async def test_item_page_shows_fields_links_and_history(
    client: httpx.AsyncClient, db: Database, seeded: Seeded
) -> None:
    await signed_in_as(client, db, Role.reader)
    story = await client.get(f"/work-items/{seeded.items['MOB-2']}")
    assert story.status_code == 200
    html = story.text
    assert "MOB-2" in html and "ana" in html and 'href="/work-items/' in html
    links = {n["link-target"]: n["via"] for n in data_nodes(html, "link-target")}
    assert links == {f"initiative:{seeded.initiatives['app_v2']}": "inherited"}
    assert "inherited:MOB-1:rule:" in html
    assert len(data_nodes(html, "change-id")) >= 1
    epic = await client.get(f"/work-items/{seeded.items['MOB-1']}")
    links = {n["link-target"]: n["via"] for n in data_nodes(epic.text, "link-target")}
    assert links == {f"initiative:{seeded.initiatives['app_v2']}": "direct"}
    assert (await client.get("/work-items/987654")).status_code == 404
