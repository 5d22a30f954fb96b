"""The OpenAPI document links each create to the item's read, update and delete, and the links
work when followed; a body that is not JSON is a documented 400."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

RESOURCES = (
    "/api/v1/objectives",
    "/api/v1/key-results",
    "/api/v1/initiatives",
    "/api/v1/admin/sources",
    "/api/v1/admin/mapping-rules",
    "/api/v1/admin/subscriptions",
    "/api/v1/admin/digest-schedules",
)


def _operations(document: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        op["operationId"]: (path, method)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }


def test_every_create_links_to_read_update_and_delete(app: FastAPI) -> None:
    document = app.openapi()
    operations = _operations(document)
    for collection in RESOURCES:
        links = document["paths"][collection]["post"]["responses"]["201"]["links"]
        targets = {operations[link["operationId"]] for link in links.values()}
        methods = {method for path, method in targets if path.count("{") == 1}
        assert {"get", "patch", "delete"} <= methods, (collection, targets)
        for link in links.values():
            path, _ = operations[link["operationId"]]
            [(parameter, expression)] = link["parameters"].items()
            assert f"{{{parameter}}}" in path and expression == "$response.body#/id"


def _follow(document: dict[str, Any], link: dict[str, Any], body: dict[str, Any]) -> str:
    path, _ = _operations(document)[link["operationId"]]
    [(parameter, _expression)] = link["parameters"].items()
    return path.replace(f"{{{parameter}}}", str(body["id"]))


async def test_links_followed_from_a_create_reach_the_same_item(
    app: FastAPI, client: httpx.AsyncClient, editor_headers: dict[str, str]
) -> None:
    document = app.openapi()
    links = document["paths"]["/api/v1/objectives"]["post"]["responses"]["201"]["links"]
    created = await client.post(
        "/api/v1/objectives", json={"title": "Grow"}, headers=editor_headers
    )
    assert created.status_code == 201, created.text
    body = created.json()

    read = await client.get(
        _follow(document, links["GetObjectivesObjectiveId"], body), headers=editor_headers
    )
    assert read.json()["title"] == "Grow"
    update_path = _follow(document, links["PatchObjectivesObjectiveId"], body)
    updated = await client.patch(update_path, json={"title": "Grow more"}, headers=editor_headers)
    assert updated.json()["title"] == "Grow more"
    update_links = document["paths"]["/api/v1/objectives/{objective_id}"]["patch"]["responses"]
    delete = update_links["200"]["links"]["DeleteObjectivesObjectiveId"]
    deleted = await client.delete(_follow(document, delete, updated.json()), headers=editor_headers)
    assert deleted.status_code == 204
    gone = await client.get(
        _follow(document, links["GetObjectivesObjectiveId"], body), headers=editor_headers
    )
    assert gone.status_code == 404


async def test_a_body_that_is_not_json_is_a_documented_400(
    app: FastAPI, client: httpx.AsyncClient, editor_headers: dict[str, str]
) -> None:
    created = await client.post(
        "/api/v1/objectives", json={"title": "Grow"}, headers=editor_headers
    )
    response = await client.patch(
        f"/api/v1/objectives/{created.json()['id']}",
        content=b"\xff\xfe not json",
        headers={**editor_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    documented = app.openapi()["paths"]["/api/v1/objectives/{objective_id}"]["patch"]
    assert "400" in documented["responses"]
