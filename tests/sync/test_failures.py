import logging
from datetime import timedelta

import httpx
import pytest
import respx

from connectors.base import Page
from schemas.enums import RunStatus, SyncMode
from schemas.tables import Source
from service.api.observability import REGISTRY
from service.store.db import Database
from service.sync.record import RunCounters
from service.sync.runner import SyncRunner

from .fakes import BASE, START, TOKEN


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _no_token_in(records: list[logging.LogRecord]) -> None:
    for record in records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in repr(record.__dict__)


async def test_upstream_404_fails_the_run_loudly_without_secrets(
    db: Database,
    runner: SyncRunner,
    upstream: respx.MockRouter,
    make_github_source,
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstream.get(f"{BASE}/repos/octo/gone/issues").respond(404, json={"message": "Not Found"})
    source_id = await make_github_source("gone", scope={"repos": ["octo/gone"]})
    failed_before = _sample(
        "portfolio_sync_sync_runs_total", kind="github", mode="incremental", status="failed"
    )
    caplog.set_level(logging.DEBUG)

    run = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")

    assert run.status == RunStatus.failed
    assert run.error is not None and "HTTP 404" in run.error and "Not Found" in run.error
    assert "octo/gone" in run.error
    assert TOKEN not in (run.error or "")
    assert run.finished_at is not None and run.requests == 1
    assert (
        _sample(
            "portfolio_sync_sync_runs_total", kind="github", mode="incremental", status="failed"
        )
        == failed_before + 1
    )
    assert any("HTTP 404" in r.getMessage() for r in caplog.records)
    _no_token_in(caplog.records)


async def test_a_wait_beyond_the_maximum_fails_with_the_reset_time(
    runner: SyncRunner, upstream: respx.MockRouter, make_github_source
) -> None:
    reset = int((START + timedelta(days=500)).timestamp())
    upstream.get(f"{BASE}/repos/octo/busy/issues").respond(
        403,
        json={"message": "API rate limit exceeded"},
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    source_id = await make_github_source("busy", scope={"repos": ["octo/busy"]})

    run = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")

    assert run.status == RunStatus.failed
    assert (run.error or "").startswith("repo octo/busy: rate limited until")


async def test_unexpected_errors_are_recorded_with_secrets_blanked(
    db: Database, runner: SyncRunner, upstream: respx.MockRouter, source_id: int, caplog
) -> None:
    caplog.set_level(logging.DEBUG)

    async def leaky(number: int, _page: Page, _c: RunCounters) -> None:
        raise RuntimeError(f"exploded while holding {TOKEN}")

    run = await runner.run_foreground(source_id, SyncMode.full, trigger="test", on_page=leaky)

    assert run.status == RunStatus.failed
    assert run.error == "RuntimeError: exploded while holding ***"
    _no_token_in(caplog.records)


async def test_successful_run_keeps_rate_limit_budget_and_freshness(
    db: Database, runner: SyncRunner, upstream: respx.MockRouter, source_id: int
) -> None:
    run = await runner.run_foreground(source_id, SyncMode.full, trigger="test")

    async with db.session() as session:
        source = await session.get(Source, source_id)
    assert source is not None
    assert source.rate_limit["core"]["limit"] == 5000
    assert source.rate_limit["core"]["remaining"] == 4000 - run.requests
    assert source.last_success_at == run.finished_at
    assert source.last_reconcile_at is not None
    assert _sample(
        "portfolio_sync_upstream_rate_limit_remaining", source="gh", resource="core"
    ) == float(4000 - run.requests)
    assert _sample("portfolio_sync_sync_items_total", kind="github", outcome="created") >= 250
    assert _sample("portfolio_sync_upstream_requests_total", kind="github", status="200") >= (
        run.requests
    )


async def test_runs_never_store_credentials(
    db: Database, runner: SyncRunner, upstream: respx.MockRouter, source_id: int
) -> None:
    from sqlalchemy import text

    await runner.run_foreground(source_id, SyncMode.full, trigger="test")
    async with db.session() as session:
        rows = (await session.execute(text("SELECT * FROM sync_run"))).all()
        sources = (await session.execute(text("SELECT * FROM source"))).all()
        cursors = (await session.execute(text("SELECT * FROM sync_cursor"))).all()
    assert rows and TOKEN not in repr(rows) and TOKEN not in repr(cursors)
    assert TOKEN not in repr(sources)  # encrypted at rest


@pytest.mark.parametrize("status", [500, 502])
async def test_persistent_5xx_exhausts_retries_and_fails(
    runner: SyncRunner, upstream: respx.MockRouter, make_github_source, status: int
) -> None:
    upstream.get(f"{BASE}/repos/octo/flaky/issues").mock(
        return_value=httpx.Response(status, json={"message": "oops"})
    )
    source_id = await make_github_source("flaky", scope={"repos": ["octo/flaky"]})

    run = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")

    assert run.status == RunStatus.failed
    assert "gave up after" in (run.error or "")
    assert run.retries >= 1


async def test_redirects_are_never_followed(
    runner: SyncRunner, upstream: respx.MockRouter, make_github_source
) -> None:
    upstream.get(f"{BASE}/repos/octo/moved/issues").respond(
        302, headers={"location": "http://169.254.169.254/latest/meta-data"}
    )
    metadata = upstream.get("http://169.254.169.254/latest/meta-data").respond(200, json=[])
    source_id = await make_github_source("moved", scope={"repos": ["octo/moved"]})

    run = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")

    assert run.status == RunStatus.failed
    assert "302" in (run.error or "") and "169.254.169.254" in (run.error or "")
    assert not metadata.called
