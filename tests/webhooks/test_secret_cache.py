"""The receiver's source cache: a changed secret works at once; bad signatures stay cheap."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from schemas.enums import SourceKind
from schemas.tables import Source
from service.errors import Unauthorized
from service.security import SecretBox
from service.store.db import Database
from service.webhooks import receiver

from .support import add_source, encode, github_headers, load_github


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_new_secret_is_read_once_a_signature_fails_and_rereads_are_throttled(
    db: Database, secret_box: SecretBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_id = await add_source(db, secret_box)
    loads: list[int] = []
    real_load = receiver._load_source

    async def counting(db: Database, source_id: int, kind: SourceKind) -> Source:
        loads.append(source_id)
        return await real_load(db, source_id, kind)

    monkeypatch.setattr(receiver, "_load_source", counting)
    ticks = Ticks()
    cache = receiver.SourceCache(ttl=5.0, clock=ticks)
    body = encode(load_github("issues.opened.json"))

    async def deliver(secret: str) -> None:
        headers = github_headers(body, "issues", secret=secret)
        await receiver.receive(
            db, secret_box, SourceKind.github, source_id, headers, body, sources=cache
        )

    await deliver("It's a Secret to Everybody")
    async with db.session() as session:
        await session.execute(
            update(Source)
            .where(Source.id == source_id)  # type: ignore[arg-type]
            .values(webhook_secret_encrypted=secret_box.encrypt("rotated"))
        )
    ticks.now += 2  # the cached entry still holds the old secret
    await deliver("rotated")  # fails against the cache, re-read once, accepted
    assert len(loads) == 2
    for _ in range(5):  # a burst of bad signatures within a second: no more reads
        with pytest.raises(Unauthorized):
            await deliver("wrong")
    assert len(loads) == 2
    ticks.now += 1.5
    with pytest.raises(Unauthorized):
        await deliver("wrong")
    assert len(loads) == 3
