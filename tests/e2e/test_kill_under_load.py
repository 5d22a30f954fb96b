"""`kill -9` of the webhook server while it receives 200 signed deliveries a second.

A real `portfolio-sync serve` (receiver plus in-process inbox worker) takes an open-loop stream
of signed GitHub deliveries, each a new issue. Once it has acknowledged a share of them it is
killed with SIGKILL, mid-stream, and a new `serve` is started on the same port while the sender
keeps sending. Every delivery answered 2xx must then be applied exactly once: its inbox row is
`processed`, the change feed names it as the cause exactly once, and its issue is in the store.
Unanswered deliveries (connection refused or reset while the server was down) are the sender's
to retry: retried once the server is back, they are applied exactly once too (a delivery stored
just before the kill, but never acknowledged, comes back as a duplicate, not a second write).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from schemas.tables import Change, WebhookDelivery, WorkItem
from service.security import SecretBox
from service.store.db import Database

from ..webhooks.support import SECRET, encode, github_headers, issue_variant, load_github
from .processes import (
    add_webhook_source,
    free_port,
    kill_9,
    service_env,
    start_serve,
    stop,
    wait_ready,
)

RATE = 200  # deliveries a second, open loop
KILL_AFTER_ACKS = 300
# After the kill the load goes on until the restarted server has acknowledged this many (and
# for at least MIN_SECONDS in all), within MAX_SECONDS.
ACKS_AFTER_RESTART = 200
MIN_SECONDS, MAX_SECONDS = 5.0, 30.0
HOOK_ID = "292430182"  # the hook id `github_headers` sends: part of the stored delivery id


_BASE = load_github("issues.opened.json")


def delivery(n: int) -> tuple[bytes, dict[str, str]]:
    body = encode(issue_variant(_BASE, n=n, title=f"load {n}"))
    return body, github_headers(body, "issues", delivery=f"load-{n}", secret=SECRET)


async def send_open_loop(
    base_url: str, source_id: int, keep_going: Callable[[int], bool], outcomes: dict[int, str]
) -> float:
    """Post deliveries at RATE a second while `keep_going(sent)`, never waiting for answers to
    send the next; returns the rate actually reached (deliveries started per second)."""
    # Built before the clock starts, so that the sender spends its time sending.
    prepared = [delivery(n) for n in range(int(RATE * MIN_SECONDS * 2))]
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=base_url, timeout=5, limits=limits) as client:

        async def one(n: int) -> None:
            outcomes[n] = "sent"  # so that len(outcomes) is the number sent so far
            body, headers = prepared[n] if n < len(prepared) else delivery(n)
            try:
                response = await client.post(
                    f"/webhooks/github/{source_id}", content=body, headers=headers
                )
                outcomes[n] = str(response.status_code)
            except httpx.TransportError as exc:
                outcomes[n] = type(exc).__name__

        started = time.monotonic()
        tasks = []
        n = 0
        while keep_going(n):
            await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
            tasks.append(asyncio.create_task(one(n)))
            n += 1
        reached = n / (time.monotonic() - started)
        await asyncio.gather(*tasks)
        return reached


async def retry_unanswered(base_url: str, source_id: int, outcomes: dict[int, str]) -> Counter[str]:
    """What the sender does with deliveries it got no 2xx for: send them again (same GUID)."""
    retried: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        for n, outcome in sorted(outcomes.items()):
            if outcome in ("200", "202"):
                continue
            body, headers = delivery(n)
            response = await client.post(
                f"/webhooks/github/{source_id}", content=body, headers=headers
            )
            assert response.status_code in (200, 202), response.text
            retried[str(response.status_code)] += 1
    return retried


async def wait_applied(db: Database, expected: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        async with db.session(readonly=True) as session:
            done = await session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(col(WebhookDelivery.status) == "processed")
            )
        if done == expected:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"only {done} of {expected} deliveries applied")


async def kill_when_acknowledged(proc: Any, outcomes: dict[int, str], killed_at: list[int]) -> None:
    deadline = time.monotonic() + 30
    while sum(o == "202" for o in outcomes.values()) < KILL_AFTER_ACKS:
        assert time.monotonic() < deadline, "the server acknowledged too little to kill"
        await asyncio.sleep(0.005)
    killed_at.append(len(outcomes))  # deliveries sent when the kill came
    await kill_9(proc)


async def test_kill_9_under_webhook_load_loses_no_acknowledged_delivery(
    db: Database, database_url: str, secret_key: str, box: SecretBox, tmp_path: Path
) -> None:
    source_id = await add_webhook_source(db, box, SECRET, repos=["Codertocat/Hello-World"])
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = service_env(database_url, secret_key)
    logs = [tmp_path / "serve-1.log", tmp_path / "serve-2.log"]
    outcomes: dict[int, str] = {}
    killed_at: list[int] = []

    def keep_going(sent: int) -> bool:
        if sent < RATE * MIN_SECONDS:
            return True
        if not killed_at or sent >= RATE * MAX_SECONDS:
            return not killed_at and sent < RATE * MAX_SECONDS
        later = sum(1 for n, o in outcomes.items() if n > killed_at[0] and o == "202")
        return later < ACKS_AFTER_RESTART

    first = start_serve(port, env, logs[0])
    second = None
    try:
        await wait_ready(base_url, first, logs[0])
        sender = asyncio.create_task(send_open_loop(base_url, source_id, keep_going, outcomes))
        await kill_when_acknowledged(first, outcomes, killed_at)
        second = start_serve(port, env, logs[1])
        reached = await sender
        await wait_ready(base_url, second, logs[1])
        total = len(outcomes)
        answered = Counter(outcomes.values())
        acknowledged = {n for n, o in outcomes.items() if o in ("200", "202")}
        retried = await retry_unanswered(base_url, source_id, outcomes)
        await wait_applied(db, total)
    finally:
        for proc in (first, second):
            if proc is not None:
                await stop(proc)

    assert first.returncode == -9
    # The sender keeps its schedule unless the machine is starved; then the figure says so.
    assert reached > RATE * 0.6, reached
    assert not [o for o in answered if o.startswith("5")], answered
    assert len(acknowledged) >= KILL_AFTER_ACKS and len(acknowledged) < total, answered
    after_restart = {n for n in acknowledged if n > killed_at[0]}
    assert len(after_restart) >= ACKS_AFTER_RESTART, "the restarted server took too little load"
    async with db.session(readonly=True) as session:
        rows = (await session.execute(select(WebhookDelivery))).scalars().all()
        causes = Counter((await session.execute(select(col(Change.cause)))).scalars().all())
        titles = {
            w.key: w.title
            for w in (await session.execute(select(WorkItem))).scalars()
            if w.source_id == source_id
        }
    by_delivery = {r.delivery_id: r for r in rows}
    assert len(rows) == total  # each delivery stored once, retries included
    for n in range(total):
        delivery = f"{HOOK_ID}:load-{n}"
        row = by_delivery[delivery]
        assert row.status == "processed", (n, row.status, row.error)
        assert causes[f"webhook:{delivery}"] == 1, (n, outcomes[n])
    assert max(causes.values()) == 1
    assert len(titles) == total
    assert sorted(titles.values()) == sorted(f"load {n}" for n in range(total))
    print(
        f"kill -9 under load ({'postgres' if db.is_postgres else 'sqlite'}): {total} sent at "
        f"{reached:.0f}/s, killed after {killed_at[0]} sent; answers {dict(answered)}; "
        f"{len(acknowledged)} acknowledged ({len(after_restart)} by the restarted server), all "
        f"applied once; unanswered retried {dict(retried)}"
    )
