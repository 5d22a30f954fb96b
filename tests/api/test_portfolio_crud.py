"""Objectives, key results and initiatives: CRUD, partial updates, validation, pagination."""

import asyncio

import httpx

PROBLEM = "application/problem+json"


async def _objective(client: httpx.AsyncClient, headers: dict[str, str], **body: object) -> dict:
    response = await client.post(
        "/api/v1/objectives", json={"title": "Grow", **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_objective_crud_and_partial_update(client, editor_headers) -> None:
    created = await _objective(client, editor_headers, description="d", owner="ana")
    assert {"id", "created_at", "updated_at", "parent_id"} <= created.keys()
    child = await _objective(client, editor_headers, title="Team", parent_id=created["id"])
    assert child["parent_id"] == created["id"]

    patched = await client.patch(
        f"/api/v1/objectives/{created['id']}", json={"owner": "bo"}, headers=editor_headers
    )
    assert patched.status_code == 200
    assert patched.json()["owner"] == "bo"
    assert patched.json()["title"] == "Grow"  # untouched fields stay

    children = await client.get(
        "/api/v1/objectives", params={"parent_id": created["id"]}, headers=editor_headers
    )
    assert [o["id"] for o in children.json()["items"]] == [child["id"]]

    blocked = await client.delete(f"/api/v1/objectives/{created['id']}", headers=editor_headers)
    assert blocked.status_code == 409
    assert blocked.headers["content-type"] == PROBLEM
    assert (
        await client.delete(f"/api/v1/objectives/{child['id']}", headers=editor_headers)
    ).status_code == 204
    assert (
        await client.delete(f"/api/v1/objectives/{created['id']}", headers=editor_headers)
    ).status_code == 204
    gone = await client.get(f"/api/v1/objectives/{created['id']}", headers=editor_headers)
    assert gone.status_code == 404
    assert gone.json()["detail"] == f"objective {created['id']} does not exist"


async def test_objective_parent_cycle_is_refused(client, editor_headers) -> None:
    a = await _objective(client, editor_headers, title="A")
    b = await _objective(client, editor_headers, title="B", parent_id=a["id"])
    response = await client.patch(
        f"/api/v1/objectives/{a['id']}", json={"parent_id": b["id"]}, headers=editor_headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "parent_id"]


async def test_key_result_and_initiative_fields(client, editor_headers) -> None:
    objective = await _objective(client, editor_headers)
    kr = await client.post(
        "/api/v1/key-results",
        json={
            "objective_id": objective["id"],
            "title": "NPS 40",
            "start": 20,
            "target": 40,
            "current": 25,
            "unit": "points",
            "progress_source": "manual",
        },
        headers=editor_headers,
    )
    assert kr.status_code == 201, kr.text
    kr_body = kr.json()
    assert (kr_body["start"], kr_body["target"], kr_body["current"], kr_body["unit"]) == (
        20,
        40,
        25,
        "points",
    )

    initiative = await client.post(
        "/api/v1/initiatives",
        json={
            "title": "Onboarding revamp",
            "owner": "cy",
            "status": "active",
            "start_date": "2026-01-01",
            "target_date": "2026-06-30",
            "key_result_ids": [kr_body["id"]],
        },
        headers=editor_headers,
    )
    assert initiative.status_code == 201, initiative.text
    body = initiative.json()
    assert body["key_result_ids"] == [kr_body["id"]]
    assert body["target_date"] == "2026-06-30"

    unlinked = await client.patch(
        f"/api/v1/initiatives/{body['id']}", json={"key_result_ids": []}, headers=editor_headers
    )
    assert unlinked.json()["key_result_ids"] == []
    assert unlinked.json()["status"] == "active"

    by_kr = await client.get(
        "/api/v1/initiatives", params={"key_result_id": kr_body["id"]}, headers=editor_headers
    )
    assert by_kr.json()["items"] == []


async def test_validation_errors_name_the_field(client, editor_headers) -> None:
    response = await client.post(
        "/api/v1/key-results", json={"title": "x", "objective_id": 999}, headers=editor_headers
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["loc"] == ["body", "objective_id"]

    bad = await client.post(
        "/api/v1/initiatives",
        json={"title": "", "status": "someday", "key_result_ids": [12345]},
        headers=editor_headers,
    )
    assert bad.status_code == 422
    locs = {tuple(e["loc"]) for e in bad.json()["errors"]}
    assert ("body", "title") in locs and ("body", "status") in locs
    assert "title" in bad.json()["detail"]

    missing_kr = await client.post(
        "/api/v1/initiatives",
        json={"title": "t", "key_result_ids": [12345]},
        headers=editor_headers,
    )
    assert missing_kr.status_code == 422
    assert "12345" in missing_kr.json()["detail"]


async def test_pagination_neither_skips_nor_repeats_with_inserts_between_pages(
    client, editor_headers
) -> None:
    for i in range(7):
        await _objective(client, editor_headers, title=f"o{i}")
    seen: list[int] = []
    cursor = None
    inserted = 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (
            await client.get("/api/v1/objectives", params=params, headers=editor_headers)
        ).json()
        seen.extend(o["id"] for o in page["items"])
        if inserted < 2:  # concurrent writers add rows while a reader pages
            await asyncio.gather(
                *(_objective(client, editor_headers, title="late") for _ in range(2))
            )
            inserted += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 11
    assert seen == sorted(seen)


async def test_invalid_cursor_and_limit_are_problems(client, reader_headers) -> None:
    bad_cursor = await client.get(
        "/api/v1/objectives", params={"cursor": "nope!"}, headers=reader_headers
    )
    assert bad_cursor.status_code == 422
    assert "cursor" in bad_cursor.json()["detail"]
    too_big = await client.get("/api/v1/objectives", params={"limit": 501}, headers=reader_headers)
    assert too_big.status_code == 422
    assert too_big.json()["errors"][0]["loc"] == ["query", "limit"]


async def test_patch_refuses_null_required_fields_and_reversed_dates(
    client, editor_headers
) -> None:
    objective = await _objective(client, editor_headers)
    kr = await client.post(
        "/api/v1/key-results",
        json={"objective_id": objective["id"], "title": "k", "start_date": "2026-01-10"},
        headers=editor_headers,
    )
    kr_id = kr.json()["id"]
    for path, body, field in (
        (f"/api/v1/objectives/{objective['id']}", {"title": None}, "title"),
        (f"/api/v1/key-results/{kr_id}", {"target": None}, "target"),
        (f"/api/v1/key-results/{kr_id}", {"target_date": "2026-01-01"}, "target_date"),
    ):
        response = await client.patch(path, json=body, headers=editor_headers)
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["errors"][0]["loc"] == ["body", field]
