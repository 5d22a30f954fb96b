"""One in-process wiring for the write-back end-to-end tests: the simulator (judged on virtual
time) and the service talk over ASGI transports in both directions, so the simulator's webhooks
land in the service's inbox exactly as a real upstream's would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from schemas.tables import Change
from service.app import create_app
from service.config import Settings
from service.security import SecretBox
from service.simulator.app import create_app as create_simulator
from service.simulator.config import SimulatorConfig
from service.store.db import Database
from service.sync.runner import SyncRunner
from service.webhooks.worker import run_until_drained
from service.writeback.worker import WriteBackReport, WriteBackWorker

from .helpers import VirtualTime, judged_by, sync

SECRET = "write-back-e2e-secret"
SIM = "http://sim"


@dataclass
class Wiring:
    api: httpx.AsyncClient
    sim: httpx.AsyncClient
    db: Database
    source_id: int
    upstream: str
    worker: WriteBackWorker
    time: VirtualTime

    async def drain_inbox(self) -> int:
        return await run_until_drained(self.db, max_attempts=3)

    async def write(self) -> WriteBackReport:
        return await self.worker.drain()

    async def sim_stats(self) -> dict[str, Any]:
        return dict((await self.sim.get("/_sim/stats")).json())

    async def writes(self) -> dict[str, int]:
        return dict((await self.sim_stats())["writes"])

    async def truth(self) -> dict[str, dict[str, Any]]:
        rows = (await self.sim.get("/_sim/truth")).json()
        return {r["key"]: r for r in rows if r["source"] == self.upstream and not r["deleted"]}

    async def link_changes(self) -> int:
        async with self.db.session() as session:
            return int(
                await session.scalar(select(func.count()).where(col(Change.type).like("link.%")))
                or 0
            )

    async def item_id(self, key: str) -> int:
        page = (
            await self.api.get("/api/v1/work-items", params={"source_id": self.source_id, "q": key})
        ).json()
        found = [i["id"] for i in page["items"] if i["key"] == key]
        assert found, key
        return int(found[0])


def _source_body(upstream: str) -> dict[str, Any]:
    if upstream == "github":
        return {
            "kind": "github",
            "name": "gh-write-back",
            "base_url": f"{SIM}/github",
            "credentials": {"token": "ghp_e2eWriteBackToken0123456789"},
            "scope": {"org": "acme"},
            "webhook_secret": SECRET,
        }
    return {
        "kind": "jira",
        "name": "jira-write-back",
        "base_url": f"{SIM}/jira",
        "credentials": {"email": "sync@example.com", "api_token": "jira-e2e-token-0123456789"},
        "scope": {"projects": ["PLAT", "MOB", "OPS"]},
        "webhook_secret": SECRET,
    }


@asynccontextmanager
async def wired(
    upstream: str,
    db: Database,
    settings: Settings,
    box: SecretBox,
    admin_headers: dict[str, str],
    *,
    items: int,
) -> AsyncIterator[Wiring]:
    """The service and a simulator with `items` issues on `upstream`, synced in full."""
    time = VirtualTime()
    app = create_app(settings, database=db, secret_box=box)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://service",
        headers=admin_headers,
        timeout=60,
    ) as api:
        created = await api.post("/api/v1/admin/sources", json=_source_body(upstream))
        assert created.status_code == 201, created.text
        source_id = created.json()["id"]
        config = SimulatorConfig(
            seed=7,
            github_issues=items if upstream == "github" else 10,
            jira_issues=items if upstream == "jira" else 10,
            webhook_target="http://service",
            webhook_transport=httpx.ASGITransport(app=app),
            github_webhook_secret=SECRET,
            jira_webhook_secret=SECRET,
            github_source_id=str(source_id),
            jira_source_id=str(source_id),
            github_write_interval=1.0,
        )
        simulator = judged_by(create_simulator(config), time)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=simulator), base_url=SIM, timeout=60
        ) as sim:
            app.state.sync_runner = SyncRunner(
                db, settings, box, client=sim, clock=time.clock, sleep=time.sleep
            )
            worker = WriteBackWorker(db, box, client=sim, sleep=time.sleep, clock=time.clock)
            await sync(api, source_id, "full")
            yield Wiring(api, sim, db, source_id, upstream, worker, time)
