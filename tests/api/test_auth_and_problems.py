"""Auth matrix (each role against each route group) and problem+json for every error class."""

import httpx
import pytest

PROBLEM = "application/problem+json"

# (method, path, json body, minimum role)
ROUTES = [
    ("GET", "/api/v1/objectives", None, "reader"),
    ("GET", "/api/v1/key-results", None, "reader"),
    ("GET", "/api/v1/initiatives", None, "reader"),
    ("GET", "/api/v1/work-items", None, "reader"),
    ("POST", "/api/v1/objectives", {"title": "o"}, "editor"),
    ("POST", "/api/v1/initiatives", {"title": "i"}, "editor"),
    ("GET", "/api/v1/admin/api-keys", None, "admin"),
    ("POST", "/api/v1/admin/api-keys", {"name": "new-key", "role": "reader"}, "admin"),
]
RANK = {"reader": 0, "editor": 1, "admin": 2}


@pytest.mark.parametrize(("method", "path", "body", "needed"), ROUTES)
async def test_role_matrix(
    client: httpx.AsyncClient,
    reader_headers,
    editor_headers,
    admin_headers,
    method: str,
    path: str,
    body: object,
    needed: str,
) -> None:
    anonymous = await client.request(method, path, json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == PROBLEM
    wrong = await client.request(
        method, path, json=body, headers={"Authorization": "Bearer psk_nope"}
    )
    assert wrong.status_code == 401
    for role, headers in (
        ("reader", reader_headers),
        ("editor", editor_headers),
        ("admin", admin_headers),
    ):
        response = await client.request(method, path, json=body, headers=headers)
        if RANK[role] >= RANK[needed]:
            assert response.status_code in (200, 201), (role, response.text)
            if body and "name" in body:  # unique names: let the next role create its own
                body = {**body, "name": body["name"] + "-x"}
        else:
            assert response.status_code == 403, (role, response.status_code)
            assert response.headers["content-type"] == PROBLEM
            assert needed in response.json()["detail"]


async def test_revoked_key_is_refused(client, admin_headers) -> None:
    created = await client.post(
        "/api/v1/admin/api-keys", json={"name": "temp", "role": "reader"}, headers=admin_headers
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("psk_")
    ok = await client.get("/api/v1/objectives", headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200
    listed = await client.get("/api/v1/admin/api-keys", headers=admin_headers)
    assert all("key" not in item and "key_hash" not in item for item in listed.json()["items"])
    revoked = await client.post(
        f"/api/v1/admin/api-keys/{created.json()['id']}/revoke", headers=admin_headers
    )
    assert revoked.json()["revoked_at"] is not None
    refused = await client.get("/api/v1/objectives", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]


async def test_problem_shapes(client, editor_headers, admin_headers) -> None:
    responses = {
        401: await client.get("/api/v1/objectives"),
        403: await client.get("/api/v1/admin/api-keys", headers=editor_headers),
        404: await client.get("/api/v1/initiatives/424242", headers=editor_headers),
        409: None,
        422: await client.post("/api/v1/objectives", json={"title": 5}, headers=editor_headers),
    }
    await client.post(
        "/api/v1/admin/api-keys", json={"name": "dup", "role": "reader"}, headers=admin_headers
    )
    responses[409] = await client.post(
        "/api/v1/admin/api-keys", json={"name": "dup", "role": "reader"}, headers=admin_headers
    )
    for status, response in responses.items():
        assert response is not None
        assert response.status_code == status
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["status"] == status
        assert body["title"] and body["detail"] and body["type"]
    assert responses[422].json()["errors"][0]["loc"] == ["body", "title"]


async def test_unknown_route_and_malformed_json_are_problems(client, editor_headers) -> None:
    missing = await client.get("/api/v1/nothing-here", headers=editor_headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    malformed = await client.post(
        "/api/v1/objectives",
        content=b"{not json",
        headers=editor_headers | {"content-type": "application/json"},
    )
    assert malformed.status_code == 422
    assert malformed.headers["content-type"] == PROBLEM
    assert "Traceback" not in malformed.text


async def test_ops_endpoints(client, editor_headers) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    await client.get("/api/v1/objectives", headers=editor_headers)
    metrics = await client.get("/metrics")
    assert (
        'portfolio_sync_http_requests_total{method="GET",route="/api/v1/objectives",status="200"}'
        in metrics.text
    )
    assert "portfolio_sync_http_request_duration_seconds_bucket" in metrics.text
    assert metrics.headers.get("x-request-id")


async def test_reads_do_not_queue_behind_a_writer_on_sqlite(client, reader_headers, db) -> None:
    import time

    if not db.is_sqlite:
        pytest.skip("SQLite locking")
    await client.get("/api/v1/objectives", headers=reader_headers)  # the key's first use
    async with db.engine.connect() as conn:
        await conn.begin()  # BEGIN IMMEDIATE: a sync page holding the write lock
        started = time.perf_counter()
        response = await client.get("/api/v1/objectives", headers=reader_headers)
        elapsed = time.perf_counter() - started
        await conn.rollback()
    assert response.status_code == 200
    assert elapsed < 1.0  # the busy timeout is 10 s: a blocked read would take that long
