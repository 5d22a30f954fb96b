"""Shared steps of the web tests: sign in through the form, read CSRF tokens and data attributes."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

from schemas.enums import Role
from service.store import api_keys
from service.store.db import Database

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def make_key(db: Database, role: Role, name: str | None = None) -> tuple[int, str]:
    async with db.session() as session:
        row, key = await api_keys.create(session, name or f"web-{role.value}", role)
    assert row.id is not None
    return row.id, key


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    page = await client.get("/sign-in")
    assert page.status_code == 200
    response = await client.post(
        "/sign-in", data={"api_key": key, "csrf_token": csrf_of(page.text), "next": "/"}
    )
    assert response.status_code == 303, response.text
    return response


async def signed_in_as(client: httpx.AsyncClient, db: Database, role: Role) -> None:
    _id, key = await make_key(db, role)
    await sign_in(client, key)


async def csrf_for(client: httpx.AsyncClient, path: str = "/") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


class DataNodes(HTMLParser):
    """Every element's `data-*` attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = {k[5:]: v or "" for k, v in attrs if k.startswith("data-")}
        if data:
            self.nodes.append(data)


def data_nodes(html: str, required: str) -> list[dict[str, str]]:
    parser = DataNodes()
    parser.feed(html)
    return [n for n in parser.nodes if required in n]
