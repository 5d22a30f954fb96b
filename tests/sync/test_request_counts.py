"""Measured upstream requests per run mode (the figures quoted in the README)."""

from datetime import timedelta

import pytest
import respx

from schemas.api.sources import SourceCreate
from schemas.enums import RunStatus, SyncMode
from schemas.tables import Source
from service.security import SecretBox
from service.sources import store as sources
from service.store.db import Database
from service.sync.runner import SyncRunner
from tests.connectors.jira.jira_support import MYSELF, FakeSearch, load, make_issue

from .fakes import START, FakeGitHub

JIRA = "https://acme.atlassian.net"


@pytest.mark.usefixtures("upstream")
async def test_github_requests_per_mode(
    runner: SyncRunner, github: FakeGitHub, source_id: int
) -> None:
    counts = {}
    for label, mode in [
        ("full", SyncMode.full),
        ("incremental_idle", SyncMode.incremental),
        ("incremental_idle_again", SyncMode.incremental),
    ]:
        run = await runner.run_foreground(source_id, mode, trigger="test")
        assert run.status == RunStatus.succeeded, run.error
        counts[label] = run.requests
    github.edit(3, START + timedelta(days=2), title="changed")
    run = await runner.run_foreground(source_id, SyncMode.incremental, trigger="test")
    counts["incremental_one_change"] = run.requests
    run = await runner.run_foreground(source_id, SyncMode.reconcile, trigger="test")
    counts["reconcile"] = run.requests
    print("github, 250 issues:", counts)
    assert counts == {
        "full": 3,  # 3 pages of 100: the listing is the delete sweep
        "incremental_idle": 1,  # boundary re-read after a multi-page run
        "incremental_idle_again": 1,  # 304 on the stored ETag: no quota spent
        "incremental_one_change": 1,
        "reconcile": 4,  # GraphQL: 3 issue id pages + 1 pull request page, 0 REST
    }


async def test_jira_requests_per_mode_and_discovery_is_kept(
    db: Database, runner: SyncRunner, secret_box: SecretBox
) -> None:
    issues = [make_issue(n, START + timedelta(minutes=n)) for n in range(1, 251)]
    search = FakeSearch(issues)
    body = SourceCreate.model_validate(
        {
            "kind": "jira",
            "name": "jira",
            "base_url": JIRA,
            "credentials": {"email": "bot@example.com", "api_token": "tok-secret"},
            "scope": {"projects": ["KAN"]},
        }
    )
    async with db.session() as session:
        source_id = (await sources.create(session, secret_box, body, cause="test")).id
    assert source_id is not None
    counts = {}
    with respx.mock(base_url=f"{JIRA}/rest/api/3", assert_all_mocked=True) as router:
        router.get("/myself").respond(200, json=MYSELF)
        fields = router.get("/field").respond(200, json=load("field.company-managed.json"))
        router.post("/search/jql").mock(side_effect=search)
        for label, mode in [
            ("full", SyncMode.full),
            ("incremental_idle", SyncMode.incremental),
            ("reconcile", SyncMode.reconcile),
        ]:
            run = await runner.run_foreground(source_id, mode, trigger="test")
            assert run.status == RunStatus.succeeded, run.error
            counts[label] = run.requests
        assert fields.call_count == 1  # discovered once, then read from the source settings
    async with db.session() as session:
        source = await session.get(Source, source_id)
    assert source is not None
    assert source.settings["story_points_field"] == "customfield_10016"
    assert source.discovered["fields"]["sprint"]["id"] == "customfield_10020"
    print("jira, 250 issues:", counts)
    # full: /myself + /field + ceil(250/100) search pages; reconcile: one id page of 5,000
    assert counts == {"full": 5, "incremental_idle": 2, "reconcile": 1}
