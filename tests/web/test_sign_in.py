"""Sign-in and sign-out, the session cookie, one-time links, CSRF, and roles on pages."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from schemas.enums import Role
from schemas.types import utcnow
from service.store import api_keys, sign_in_tokens
from service.store.db import Database
from service.web.templating import ADMIN_NAV
from tests.web.support import csrf_for, csrf_of, make_key, sign_in


async def test_anonymous_page_redirects_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/?owner=ops team")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/%3Fowner%3Dops%2520team"


async def test_sign_in_sets_a_signed_httponly_lax_cookie_with_expiry(
    client: httpx.AsyncClient, db: Database
) -> None:
    _id, key = await make_key(db, Role.reader)
    response = await sign_in(client, key)
    cookie = response.headers["set-cookie"]
    parts = [p.strip().lower() for p in cookie.split(";")]
    assert "httponly" in parts
    assert "samesite=lax" in parts
    assert any(p.startswith("max-age=") and int(p.split("=")[1]) > 3600 for p in parts)
    assert any(p.startswith("expires=") for p in parts)
    assert key not in cookie and key.removeprefix("psk_") not in cookie
    assert response.headers["location"] == "/"
    page = await client.get("/")
    assert page.status_code == 200
    assert "web-reader" in page.text


async def test_bad_key_is_refused_and_not_echoed(client: httpx.AsyncClient) -> None:
    page = await client.get("/sign-in")
    response = await client.post(
        "/sign-in", data={"api_key": "psk_wrong-key-value", "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 401
    assert "not valid or has been revoked" in response.text
    assert "psk_wrong-key-value" not in response.text
    assert (await client.get("/")).status_code == 303


async def test_sign_in_without_csrf_token_is_refused(
    client: httpx.AsyncClient, db: Database
) -> None:
    _id, key = await make_key(db, Role.admin)
    await client.get("/sign-in")
    response = await client.post("/sign-in", data={"api_key": key})
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert (await client.get("/")).status_code == 303


async def test_sign_in_only_redirects_within_the_site(
    client: httpx.AsyncClient, db: Database
) -> None:
    _id, key = await make_key(db, Role.reader)
    page = await client.get("/sign-in")
    response = await client.post(
        "/sign-in",
        data={"api_key": key, "csrf_token": csrf_of(page.text), "next": "//evil.example/x"},
    )
    assert response.headers["location"] == "/"


async def test_sign_out_ends_the_session(client: httpx.AsyncClient, db: Database) -> None:
    _id, key = await make_key(db, Role.reader)
    await sign_in(client, key)
    token = await csrf_for(client)
    response = await client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 303
    assert (await client.get("/")).status_code == 303


async def test_revoked_key_loses_its_browser_session(
    client: httpx.AsyncClient, db: Database
) -> None:
    key_id, key = await make_key(db, Role.editor)
    await sign_in(client, key)
    assert (await client.get("/")).status_code == 200
    async with db.session() as session:
        await api_keys.revoke(session, key_id)
    response = await client.get("/")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")


async def test_session_cookie_does_not_authorize_the_json_api(
    client: httpx.AsyncClient, db: Database
) -> None:
    _id, key = await make_key(db, Role.admin)
    await sign_in(client, key)
    assert (await client.get("/")).status_code == 200
    response = await client.get("/api/v1/portfolio")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_forged_cookie_is_ignored(client: httpx.AsyncClient, db: Database) -> None:
    _id, key = await make_key(db, Role.reader)
    await sign_in(client, key)
    cookie = client.cookies["ps_session"]
    payload, signature = cookie.split(".")
    client.cookies.set("ps_session", f"{payload}.{signature[:-2]}AA")
    assert (await client.get("/")).status_code == 303


async def test_one_time_link_signs_in_once(client: httpx.AsyncClient, db: Database) -> None:
    key_id, _key = await make_key(db, Role.admin)
    async with db.session() as session:
        token = await sign_in_tokens.create(session, key_id)
    response = await client.get(f"/sign-in/token/{token}")
    assert response.status_code == 303
    assert "httponly" in response.headers["set-cookie"].lower()
    assert (await client.get("/admin")).status_code == 200
    again = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with again:
        second = await again.get(f"/sign-in/token/{token}")
        assert second.status_code == 400
        assert "already used" in second.text
        assert (await again.get("/")).status_code == 303


async def test_expired_link_is_refused(client: httpx.AsyncClient, db: Database) -> None:
    key_id, _key = await make_key(db, Role.admin)
    async with db.session() as session:
        token = await sign_in_tokens.create(session, key_id, ttl=timedelta(minutes=10))
    async with db.session() as session:
        later = utcnow() + timedelta(minutes=11)
        assert await sign_in_tokens.consume(session, token, now=later) is None
    async with db.session() as session:
        expired = await sign_in_tokens.create(session, key_id, ttl=timedelta(seconds=-1))
    response = await client.get(f"/sign-in/token/{expired}")
    assert response.status_code == 400
    assert (await client.get("/")).status_code == 303


async def test_link_of_a_revoked_key_is_refused(client: httpx.AsyncClient, db: Database) -> None:
    key_id, _key = await make_key(db, Role.admin)
    async with db.session() as session:
        token = await sign_in_tokens.create(session, key_id)
        await api_keys.revoke(session, key_id)
    assert (await client.get(f"/sign-in/token/{token}")).status_code == 400


@pytest.mark.parametrize("role", [Role.reader, Role.editor])
async def test_admin_pages_answer_403_below_admin(
    client: httpx.AsyncClient, db: Database, role: Role
) -> None:
    _id, key = await make_key(db, role)
    await sign_in(client, key)
    for path in ("/admin", *(href for _label, href in ADMIN_NAV)):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "text/html" in response.headers["content-type"]
        assert "needs the admin role" in response.text
    # Nor do they see the admin entries of the navigation.
    assert 'href="/admin/sources"' not in (await client.get("/work-items")).text


async def test_unknown_page_is_an_html_404_and_api_keeps_problem_json(
    client: httpx.AsyncClient, db: Database
) -> None:
    _id, key = await make_key(db, Role.reader)
    await sign_in(client, key)
    page = await client.get("/no-such-page")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    api = await client.get("/api/v1/no-such-route")
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/problem+json")


async def test_static_files_are_versioned_and_cached(client: httpx.AsyncClient) -> None:
    page = await client.get("/sign-in")
    href = page.text.split('rel="stylesheet" href="')[1].split('"')[0]
    assert href.startswith("/static/app.css?v=")
    response = await client.get(href)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = response.headers["etag"]
    revalidated = await client.get("/static/app.css", headers={"If-None-Match": etag})
    assert revalidated.status_code == 304
    assert "max-age=300" in revalidated.headers["cache-control"]
