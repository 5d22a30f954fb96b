"""Admin rule pages: the preview equals what saving writes; field errors; versions; reorder."""

from __future__ import annotations

import re

import httpx

from service.store.db import Database
from tests.factories import item, make_source
from tests.rules.support import initiative, linked_items, rule, upsert
from tests.web.admin.conftest import post_form
from tests.web.support import csrf_of


async def _portfolio(db: Database, api: httpx.AsyncClient, headers: dict[str, str]) -> dict:
    """Six PROJ items (four labelled `backend`), two OTHER items; PROJ linked to `old`."""
    source_id = await make_source(db)
    await upsert(
        db,
        source_id,
        *(item(n, labels=["backend"] if n <= 4 else ["web"]) for n in range(1, 7)),
        *(item(n, project="OTHER", key=f"OTHER-{n}", labels=["backend"]) for n in (7, 8)),
    )
    old = await initiative(api, headers, title="Old home")
    new = await initiative(api, headers, title="Backend platform")
    await rule(api, headers, {"project": "PROJ"}, initiative_id=old, priority=200, name="PROJ")
    return {"source_id": source_id, "old": old, "new": new}


def _counts(html: str) -> tuple[int, int]:
    linked = re.search(r'data-preview-linked="(\d+)"', html)
    unlinked = re.search(r'data-preview-unlinked="(\d+)"', html)
    assert linked and unlinked, html
    return int(linked.group(1)), int(unlinked.group(1))


async def test_preview_counts_equal_what_saving_links(
    admin: httpx.AsyncClient, db: Database, admin_headers: dict[str, str]
) -> None:
    ids = await _portfolio(db, admin, admin_headers)
    form = {
        "name": "Backend work",
        "target": f"initiative:{ids['new']}",
        "priority": "10",
        "enabled": "on",
        "labels_any": "backend",
    }
    page = await admin.get("/admin/rules/new")
    token = csrf_of(page.text)
    button = await admin.post(
        "/admin/rules/new", data=form | {"csrf_token": token, "action": "preview"}
    )
    assert button.status_code == 200
    live = await admin.post("/admin/rules/preview", data=form | {"csrf_token": token})
    assert live.status_code == 200 and live.text.lstrip().startswith("<section")
    # Four PROJ items move from `old`, two OTHER items are new: 6 linked, 4 unlinked.
    assert _counts(button.text) == _counts(live.text) == (6, 4)
    assert await linked_items(db, "initiative", ids["new"]) == set()  # a preview writes nothing

    saved = await admin.post(
        "/admin/rules/new", data=form | {"csrf_token": token, "action": "save"}
    )
    assert saved.status_code == 303
    assert re.search(r"saved=1&linked=6&unlinked=4$", saved.headers["location"])
    assert len(await linked_items(db, "initiative", ids["new"])) == 6
    assert len(await linked_items(db, "initiative", ids["old"])) == 2
    shown = await admin.get(saved.headers["location"])
    assert 'data-saved-linked="6"' in shown.text and 'data-saved-unlinked="4"' in shown.text


async def test_editing_previews_the_next_version_and_lists_what_changed(
    admin: httpx.AsyncClient, db: Database, admin_headers: dict[str, str]
) -> None:
    ids = await _portfolio(db, admin, admin_headers)
    created = await rule(
        admin, admin_headers, {"labels_any": ["backend"]}, initiative_id=ids["new"], priority=10
    )
    path = f"/admin/rules/{created['id']}"
    form = {
        "rule_id": str(created["id"]),
        "name": "r",
        "target": f"initiative:{ids['new']}",
        "priority": "10",
        "enabled": "on",
        "labels_any": "backend",
        "project": "OTHER",
    }
    preview = await post_form(admin, path, form | {"action": "preview"})
    assert _counts(preview.text) == (4, 4)  # the four PROJ items go back to `old`
    saved = await post_form(admin, path, form | {"action": "save"})
    assert saved.headers["location"].endswith("saved=2&linked=4&unlinked=4")
    page = await admin.get(path)
    assert "Project or repository: <ins>OTHER</ins>" in page.text
    assert len(await linked_items(db, "initiative", ids["new"])) == 2


async def test_invalid_rule_shows_errors_beside_fields_and_keeps_what_was_typed(
    admin: httpx.AsyncClient, db: Database, admin_headers: dict[str, str]
) -> None:
    ids = await _portfolio(db, admin, admin_headers)
    form = {
        "name": "Broken",
        "target": f"initiative:{ids['new']}",
        "title_matches": "(unclosed",
        "assignee": "kept-as-typed",
        "action": "save",
    }
    response = await post_form(admin, "/admin/rules/new", form)
    assert response.status_code == 422
    assert 'id="e-title_matches"' in response.text and "regular expression" in response.text
    assert 'value="kept-as-typed"' in response.text and 'value="(unclosed"' in response.text

    empty = await post_form(admin, "/admin/rules/new", {"name": "x", "action": "save"})
    assert empty.status_code == 422
    assert "give at least one condition" in empty.text and 'id="e-target"' in empty.text


async def test_reorder_moves_a_rule_up_and_reassigns_priorities(
    admin: httpx.AsyncClient, db: Database, admin_headers: dict[str, str]
) -> None:
    ids = await _portfolio(db, admin, admin_headers)
    second = await rule(
        admin, admin_headers, {"labels_any": ["backend"]}, initiative_id=ids["new"], priority=300
    )
    response = await post_form(
        admin, "/admin/rules", {"move": f"{second['id']}:up"}, "/admin/rules/reorder"
    )
    assert response.status_code == 303
    listed = (await admin.get("/api/v1/admin/mapping-rules", headers=admin_headers)).json()
    assert (listed[0]["id"], listed[0]["priority"]) == (second["id"], 10)
    # Now first, the backend rule wins the PROJ backend items from the PROJ rule.
    assert len(await linked_items(db, "initiative", ids["new"])) == 6


async def test_live_preview_without_csrf_token_is_refused(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/admin/rules/preview", data={"name": "x", "project": "P"})
    assert response.status_code == 403


async def test_a_reader_gets_the_403_page_on_rules(reader: httpx.AsyncClient) -> None:
    response = await reader.get("/admin/rules")
    assert response.status_code == 403 and "needs the admin role" in response.text
