"""Subscriptions under test: a fake public resolver and a recording upstream."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from schemas.api.feed import SubscriptionCreate
from service.security import SecretBox
from service.store.db import Database
from service.subscriptions import store

URL = "https://hooks.example.com/portfolio"


async def public_resolver(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


async def subscribe(db: Database, box: SecretBox, **fields: object) -> tuple[int, str]:
    async with db.session() as session:
        row, secret = await store.create(
            session,
            box,
            SubscriptionCreate.model_validate({"url": URL, **fields}),
            allow_private=False,
            resolver=public_resolver,
        )
    assert row.id is not None
    return row.id, secret


class Upstream:
    """Records every request; answers with `status` (or raises what `fail` returns)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[httpx.Request] = []
        self.fail: Callable[[httpx.Request], Exception] | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail is not None:
            raise self.fail(request)
        return httpx.Response(self.status)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
