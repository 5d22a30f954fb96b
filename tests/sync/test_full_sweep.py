"""A full run's own listing is its delete sweep: exact request counts, marks, failed scopes."""

from datetime import timedelta

import httpx
import pytest
import respx

from schemas.enums import RunStatus, SyncMode
from service.store.db import Database
from service.sync.runner import SyncRunner

from .fakes import BASE, REPO, START, FakeGitHub, FakeGraphQL, issue
from .helpers import item_by_key, stored

pytestmark = pytest.mark.usefixtures("upstream")
OTHER = "octo/other"


def add_items(github: FakeGitHub, total: int) -> None:
    """Issues and pull requests 1..total (every fifth a pull request), and nothing else."""
    github.issues.clear()
    for number in range(1, total + 1):
        extra = {"pull_request": {"url": f"{BASE}/repos/{REPO}/pulls/{number}"}}
        github.issues[number] = issue(
            number, START + timedelta(minutes=number), **(extra if number % 5 == 0 else {})
        )


def other_repository(total: int) -> FakeGitHub:
    """A second repository, `octo/other`, with issues 1..total."""
    other = FakeGitHub(0)
    for number in range(1, total + 1):
        other.issues[number] = {
            **issue(number, START + timedelta(minutes=number)),
            "node_id": f"I_octo_other_{number}",
            "html_url": f"https://github.com/{OTHER}/issues/{number}",
            "repository_url": f"{BASE}/repos/{OTHER}",
        }
    return other


async def test_full_sync_of_n_issues_and_prs_is_ceil_n_over_100_list_requests(
    runner: SyncRunner, github: FakeGitHub, graphql: FakeGraphQL, source_id: int
) -> None:
    add_items(github, 1234)

    run = await runner.run_foreground(source_id, SyncMode.full, trigger="test")

    assert run.status == RunStatus.succeeded, run.error
    assert (run.requests, len(github.requests), len(graphql.requests)) == (13, 13, 0)
    assert run.items_created == 1234 and run.scopes["sweep"] == {"candidates": 0, "tombstoned": 0}


async def test_an_org_scope_adds_one_repository_listing(
    runner: SyncRunner,
    github: FakeGitHub,
    upstream: respx.MockRouter,
    make_github_source,
) -> None:
    add_items(github, 250)
    upstream.get(f"{BASE}/orgs/octo/repos").respond(json=[{"full_name": REPO}])
    source = await make_github_source("org", scope={"org": "octo"})

    run = await runner.run_foreground(source, SyncMode.full, trigger="test")

    assert run.status == RunStatus.succeeded, run.error
    assert run.requests == 3 + 1


async def test_items_the_listing_no_longer_returns_become_tombstones_once_confirmed(
    db: Database, runner: SyncRunner, github: FakeGitHub, graphql: FakeGraphQL, source_id: int
) -> None:
    add_items(github, 250)
    await runner.run_foreground(source_id, SyncMode.full, trigger="test")
    for number in (7, 10, 120):  # two issues and a pull request
        github.issues.pop(number)
    github.requests.clear()

    run = await runner.run_foreground(source_id, SyncMode.full, trigger="test")

    assert run.status == RunStatus.succeeded, run.error
    # 3 list pages, then one GraphQL query confirms the 3 candidates: 0 REST requests more.
    assert (len(github.requests), len(graphql.requests), run.requests) == (3, 1, 4)
    assert (run.items_deleted, run.scopes["sweep"]) == (3, {"candidates": 3, "tombstoned": 3})
    for key in ("octo/repo#7", "octo/repo#10", "octo/repo#120"):
        assert (await item_by_key(db, source_id, key)).deleted_at is not None
    assert (await item_by_key(db, source_id, "octo/repo#8")).deleted_at is None

    github.issues[7] = issue(7, START + timedelta(days=9))  # it comes back
    again = await runner.run_foreground(source_id, SyncMode.full, trigger="test")
    assert again.items_updated == 1 and again.items_deleted == 0
    assert (await item_by_key(db, source_id, "octo/repo#7")).deleted_at is None


async def test_a_candidate_upstream_still_has_is_not_tombstoned(
    db: Database,
    runner: SyncRunner,
    github: FakeGitHub,
    upstream: respx.MockRouter,
    source_id: int,
) -> None:
    # A listing can miss a live item (offset pages shift when an earlier item moves to the
    # end): the candidate is asked after, found, and kept.
    add_items(github, 250)
    await runner.run_foreground(source_id, SyncMode.full, trigger="test")
    hidden = github.issues.pop(42)
    original = github.__call__

    def listing_without_42(request: httpx.Request) -> httpx.Response:
        github.issues.pop(42, None)
        response = original(request)
        github.issues[42] = hidden
        return response

    # The same pattern replaces the route's handler.
    upstream.get(f"{BASE}/repos/{REPO}/issues").mock(side_effect=listing_without_42)
    run = await runner.run_foreground(source_id, SyncMode.full, trigger="test")

    assert run.status == RunStatus.succeeded, run.error
    assert run.scopes["sweep"] == {"candidates": 1, "tombstoned": 0}
    assert (await item_by_key(db, source_id, "octo/repo#42")).deleted_at is None


async def test_a_repository_that_fails_sweeps_nothing_and_fails_the_run(
    db: Database,
    runner: SyncRunner,
    github: FakeGitHub,
    upstream: respx.MockRouter,
    make_github_source,
) -> None:
    add_items(github, 150)
    other = other_repository(30)
    other_route = upstream.get(f"{BASE}/repos/{OTHER}/issues").mock(side_effect=other)
    source = await make_github_source("two", scope={"repos": [REPO, OTHER]})
    first = await runner.run_foreground(source, SyncMode.full, trigger="test")
    assert first.status == RunStatus.succeeded, first.error
    assert len(await stored(db, source)) == 150 + 30

    github.issues.pop(3)
    other.issues.pop(4)  # deleted, but its repository cannot be read this time
    other_route.respond(404, json={"message": "Not Found"})
    run = await runner.run_foreground(source, SyncMode.full, trigger="test")

    assert run.status == RunStatus.failed
    assert run.error is not None and "1 of 2 scopes could not be read" in run.error
    assert "repo octo/other" in run.error and "HTTP 404" in run.error
    assert run.scopes["issues:octo/other"]["status"] == "failed"
    assert run.scopes["issues:octo/repo"]["status"] == "complete"
    assert (await item_by_key(db, source, "octo/repo#3")).deleted_at is not None
    # The failed scope swept nothing: its deleted item and all the others are kept.
    assert (await item_by_key(db, source, "octo/other#4")).deleted_at is None
    assert run.items_deleted == 1


async def test_rest_and_graphql_budgets_are_tracked_apart_on_the_source_and_in_metrics(
    db: Database, runner: SyncRunner, github: FakeGitHub, source_id: int
) -> None:
    from schemas.tables import Source
    from service.api.observability import REGISTRY

    # A first incremental run lists the pages (REST) and is due for its id sweep (GraphQL).
    run = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")

    assert run.status == RunStatus.succeeded, run.error
    async with db.session() as session:
        source = await session.get(Source, source_id)
        assert source is not None
        budgets = dict(source.rate_limit)
    assert budgets["core"]["remaining"] == github.remaining
    assert budgets["graphql"] == {
        "limit": 5000,
        "remaining": 4990,
        "reset_at": START.isoformat(),
    }
    for resource, remaining in (("core", github.remaining), ("graphql", 4990)):
        value = REGISTRY.get_sample_value(
            "portfolio_sync_upstream_rate_limit_remaining",
            {"source": source.name, "resource": resource},
        )
        assert value == remaining


async def test_a_resumed_run_lists_from_the_start_the_scopes_the_killed_run_had_not_begun(
    db: Database,
    settings,
    secret_box,
    github: FakeGitHub,
    upstream: respx.MockRouter,
    make_github_source,
) -> None:
    from connectors.base import Page
    from schemas.types import utcnow
    from service.sync.record import RunCounters

    add_items(github, 250)
    other = other_repository(30)
    upstream.get(f"{BASE}/repos/{OTHER}/issues").mock(side_effect=other)
    source = await make_github_source("two", scope={"repos": [REPO, OTHER]})
    clock = {"now": utcnow()}
    first = SyncRunner(db, settings, secret_box, holder="a", clock=lambda: clock["now"])
    assert (await first.run_foreground(source, SyncMode.full, trigger="t")).status == "succeeded"
    # The second repository's cursor is now an incremental one (since its newest item).
    await first.run_foreground(source, SyncMode.incremental, trigger="t")

    class Died(BaseException):
        pass

    async def die_after_first_page(number: int, _page: Page, _c: RunCounters) -> None:
        if number == 1:
            raise Died

    with pytest.raises(Died):
        await first.run_foreground(source, SyncMode.full, trigger="t", on_page=die_after_first_page)
    clock["now"] += timedelta(seconds=settings.lease_ttl_seconds + 1)
    other.requests.clear()
    rerun = await SyncRunner(
        db, settings, secret_box, holder="b", clock=lambda: clock["now"]
    ).run_foreground(source, SyncMode.full, trigger="t")

    assert rerun.status == RunStatus.succeeded, rerun.error
    assert rerun.generation != rerun.id
    # The second repository was listed whole (no `since`), so all 30 of its items are marked:
    # no candidate, nothing asked after, nothing tombstoned.
    assert [r.url.params.get("since") for r in other.requests] == [None]
    assert rerun.scopes["sweep"] == {"candidates": 0, "tombstoned": 0}
    assert rerun.items_deleted == 0


async def test_an_interrupted_generation_older_than_the_reconcile_interval_is_not_continued(
    db: Database, runner: SyncRunner, github: FakeGitHub, source_id: int
) -> None:
    from sqlalchemy import update

    from schemas.tables import SyncRun
    from schemas.types import utcnow

    add_items(github, 250)

    async def fail_after_first_page(number: int, *_args) -> None:
        if number == 1:
            raise RuntimeError("injected failure")

    failed = await runner.run_foreground(
        source_id, SyncMode.full, trigger="t", on_page=fail_after_first_page
    )
    assert failed.status == RunStatus.failed
    async with db.session() as session:
        await session.execute(
            update(SyncRun)
            .where(SyncRun.id == failed.id)
            .values(
                created_at=utcnow()
                - timedelta(seconds=runner.settings.reconcile_interval_seconds + 60)
            )
        )
    github.requests.clear()

    fresh = await runner.run_foreground(source_id, SyncMode.full, trigger="t")

    assert fresh.status == RunStatus.succeeded, fresh.error
    assert fresh.generation == fresh.id  # a new generation: everything listed again
    assert len(github.requests) == 3 and fresh.items_unchanged == 100
