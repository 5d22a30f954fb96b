"""Label writes in the simulator: the answers GitHub and Jira give, the webhooks they send, and
the write-spacing check."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from service.simulator import SimulatorConfig, create_app

from .conftest import BASE, JIRA_AUTH
from .test_sim_webhooks import receiver

Seen = list[tuple[str, dict[str, str], bytes]]


@pytest.fixture
async def wired() -> AsyncIterator[tuple[httpx.AsyncClient, Seen]]:
    target, seen = receiver()
    config = SimulatorConfig(
        seed=5,
        github_issues=40,
        jira_issues=40,
        webhook_target="http://receiver.test",
        webhook_transport=httpx.ASGITransport(app=target),
        github_write_interval=1.0,
    )
    app = create_app(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client, seen


async def _first_issue(client: httpx.AsyncClient) -> dict[str, object]:
    issues = (await client.get("/github/repos/acme/web/issues", params={"state": "all"})).json()
    return next(i for i in issues if "pull_request" not in i)


async def test_github_label_add_remove_and_create_emit_issue_events(wired) -> None:
    client, seen = wired
    issue = await _first_issue(client)
    number = issue["number"]
    created = await client.post(
        "/github/repos/acme/web/labels", json={"name": "initiative:checkout", "color": "5319e7"}
    )
    assert created.status_code == 201 and created.json()["color"] == "5319e7"
    again = await client.post("/github/repos/acme/web/labels", json={"name": "initiative:checkout"})
    assert again.status_code == 422

    added = await client.post(
        f"/github/repos/acme/web/issues/{number}/labels", json={"labels": ["initiative:checkout"]}
    )
    assert added.status_code == 200
    assert "initiative:checkout" in [label["name"] for label in added.json()]
    # Adding a label the issue already has changes nothing and sends no event.
    await client.post(
        f"/github/repos/acme/web/issues/{number}/labels", json={"labels": ["initiative:checkout"]}
    )
    removed = await client.delete(
        f"/github/repos/acme/web/issues/{number}/labels/initiative:checkout"
    )
    assert removed.status_code == 200
    assert "initiative:checkout" not in [label["name"] for label in removed.json()]
    gone = await client.delete(f"/github/repos/acme/web/issues/{number}/labels/initiative:checkout")
    assert gone.status_code == 404

    events = [json.loads(body) for path, _, body in seen if "/github/" in path]
    assert [(e["action"], e["label"]["name"]) for e in events] == [
        ("labeled", "initiative:checkout"),
        ("unlabeled", "initiative:checkout"),
    ]
    assert events[0]["label"]["color"] == "5319e7"
    assert {e["sender"]["login"] for e in events} == {"portfolio-sync-bot"}
    stats = (await client.get("/_sim/stats")).json()
    assert stats["writes"] == {
        "github:label_created": 1,
        "github:label_added": 1,
        "github:label_removed": 1,
    }
    # Six writes sent back to back, with a one-second spacing required: five too soon.
    assert stats["rate_limit_violations_by_upstream"] == {"github_write_spacing": 5}
    truth = {r["key"]: r for r in (await client.get("/_sim/truth")).json()}
    assert "initiative:checkout" not in truth[f"acme/web#{number}"]["labels"]


async def test_jira_label_operations_emit_one_update_with_a_changelog(wired) -> None:
    client, seen = wired
    auth = httpx.BasicAuth(*JIRA_AUTH)
    edit = await client.put(
        "/jira/rest/api/3/issue/PLAT-1",
        json={"update": {"labels": [{"add": "initiative:checkout"}, {"add": "kr:conversion"}]}},
        auth=auth,
    )
    assert edit.status_code == 204
    edit = await client.put(
        "/jira/rest/api/3/issue/PLAT-1",
        json={"update": {"labels": [{"remove": "kr:conversion"}]}},
        auth=auth,
    )
    assert edit.status_code == 204
    spaced = await client.put(
        "/jira/rest/api/3/issue/PLAT-1", json={"update": {"labels": [{"add": "a b"}]}}, auth=auth
    )
    assert spaced.status_code == 400 and "labels" in spaced.json()["errors"]
    other = await client.put(
        "/jira/rest/api/3/issue/PLAT-1", json={"fields": {"summary": "x"}}, auth=auth
    )
    assert other.status_code == 400
    missing = await client.put(
        "/jira/rest/api/3/issue/NOPE-1", json={"update": {"labels": []}}, auth=auth
    )
    assert missing.status_code == 404
    assert (await client.put("/jira/rest/api/3/issue/PLAT-1", json={})).status_code == 401

    events = [json.loads(body) for path, _, body in seen if "/jira/" in path]
    assert len(events) == 2
    first, second = (e["changelog"]["items"][0] for e in events)
    assert first["fieldId"] == "labels" and "initiative:checkout" in first["toString"].split()
    assert "kr:conversion" in second["fromString"].split()
    assert "kr:conversion" not in second["toString"].split()
    assert {e["user"]["accountId"] for e in events} == {"712020:simulator"}
    issue = (await client.get("/jira/rest/api/3/issue/PLAT-1", auth=auth)).json()
    assert "initiative:checkout" in issue["fields"]["labels"]
    assert "kr:conversion" not in issue["fields"]["labels"]
    stats = (await client.get("/_sim/stats")).json()
    assert stats["writes"] == {
        "jira:label_added": 2,
        "jira:label_removed": 1,
        "jira:issue_edits": 2,
    }


async def test_a_person_edit_is_sent_with_the_persons_name(wired) -> None:
    client, seen = wired
    issue = await _first_issue(client)
    key = f"acme/web#{issue['number']}"
    answer = await client.post(
        "/_sim/labels", json={"key": key, "add": ["initiative:other"], "actor": "alice"}
    )
    assert "initiative:other" in answer.json()["labels"]
    await client.post("/_sim/labels", json={"key": "PLAT-2", "add": ["x"], "actor": "bob"})
    gh_event, jira_event = (json.loads(body) for _, _, body in seen)
    assert gh_event["sender"]["login"] == "alice" and gh_event["action"] == "labeled"
    assert jira_event["user"]["accountId"] == "712020:bob"
    # Person edits are not writes of the client under test.
    assert (await client.get("/_sim/stats")).json()["writes"] == {}


async def test_jira_issue_property_set_and_read_back_with_its_event(wired) -> None:
    client, seen = wired
    auth = httpx.BasicAuth(*JIRA_AUTH)
    url = "/jira/rest/api/3/issue/PLAT-3/properties/portfolio"
    assert (await client.get(url, auth=auth)).status_code == 404
    first = await client.put(url, json={"initiatives": ["checkout"]}, auth=auth)
    second = await client.put(url, json={"initiatives": []}, auth=auth)
    assert (first.status_code, second.status_code) == (201, 200)
    assert (await client.get(url, auth=auth)).json() == {
        "key": "portfolio",
        "value": {"initiatives": []},
    }
    events = [json.loads(body) for path, _, body in seen if "/jira/" in path]
    assert [(e["webhookEvent"], e["property"]["value"]) for e in events] == [
        ("issue_property_set", {"initiatives": ["checkout"]}),
        ("issue_property_set", {"initiatives": []}),
    ]
    assert events[0]["issue"]["key"] == "PLAT-3"
    assert (await client.get("/_sim/stats")).json()["writes"] == {"jira:property_set": 2}
