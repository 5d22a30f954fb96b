"""Writable Jira custom fields in the simulator: listed by `/field`, set by the issue `PUT`,
checked (Jira's 400 answers), read back by id, and one `jira:issue_updated` per change with
its changelog item."""

import json

import httpx

from service.simulator.jira_custom_fields import SELECT_FIELD, TEXT_FIELD

from .conftest import JIRA_AUTH
from .test_sim_webhooks import wired  # noqa: F401 (fixture)


async def _key(client: httpx.AsyncClient) -> str:
    truth = (await client.get("/_sim/truth")).json()
    return next(r["key"] for r in truth if r["source"] == "jira" and not r["deleted"])


async def _put(client: httpx.AsyncClient, key: str, fields: dict) -> httpx.Response:
    return await client.put(
        f"/jira/rest/api/3/issue/{key}", json={"fields": fields}, auth=JIRA_AUTH
    )


async def _read(client: httpx.AsyncClient, key: str) -> dict:
    answer = await client.get(
        f"/jira/rest/api/3/issue/{key}",
        params={"fields": f"{TEXT_FIELD},{SELECT_FIELD}"},
        auth=JIRA_AUTH,
    )
    return answer.json()["fields"]


async def test_custom_fields_are_listed_set_and_echoed(wired) -> None:  # noqa: F811
    client, seen = wired
    listed = (await client.get("/jira/rest/api/3/field", auth=JIRA_AUTH)).json()
    types = {f["id"]: f["schema"]["custom"].rsplit(":", 1)[1] for f in listed if f["custom"]}
    assert types[TEXT_FIELD] == "textfield" and types[SELECT_FIELD] == "select"
    key = await _key(client)
    jira = lambda: [s for s in seen if s[0] == "/webhooks/jira/jira-1"]  # noqa: E731
    before = len(jira())

    assert (await _put(client, key, {TEXT_FIELD: "Search quality"})).status_code == 204
    select = {SELECT_FIELD: {"value": "Search quality"}}
    assert (await _put(client, key, select)).status_code == 204
    assert (await _put(client, key, select)).status_code == 204  # unchanged: no event
    fields = await _read(client, key)
    assert fields[TEXT_FIELD] == "Search quality"
    assert fields[SELECT_FIELD]["value"] == "Search quality"
    events = [json.loads(body) for _, _, body in jira()[before:]]
    assert [e["webhookEvent"] for e in events] == ["jira:issue_updated"] * 2
    assert events[0]["changelog"]["items"] == [
        {
            "field": "Initiative",
            "fieldtype": "custom",
            "fieldId": TEXT_FIELD,
            "from": None,
            "fromString": None,
            "to": None,
            "toString": "Search quality",
        }
    ]
    assert events[1]["changelog"]["items"][0]["fieldId"] == SELECT_FIELD
    assert events[1]["user"]["displayName"] == "portfolio-sync-bot"

    assert (await _put(client, key, {TEXT_FIELD: None, SELECT_FIELD: None})).status_code == 204
    assert await _read(client, key) == {TEXT_FIELD: None, SELECT_FIELD: None}
    cleared = json.loads(jira()[-1][2])["changelog"]["items"]
    assert [(i["fieldId"], i["fromString"], i["toString"]) for i in cleared] == [
        (TEXT_FIELD, "Search quality", None),
        (SELECT_FIELD, "Search quality", None),
    ]
    assert len(jira()) == before + 3
    writes = (await client.get("/_sim/stats")).json()["writes"]
    assert writes["jira:custom_field_set"] == 5 and writes["jira:issue_edits"] == 4


async def test_bad_values_are_jiras_400_and_change_nothing(wired) -> None:  # noqa: F811
    client, seen = wired
    key = await _key(client)
    before = len(seen)
    for fields, field_id in (
        ({SELECT_FIELD: {"value": "Not an option"}}, SELECT_FIELD),
        ({SELECT_FIELD: "Search quality"}, SELECT_FIELD),
        ({TEXT_FIELD: {"value": "x"}}, TEXT_FIELD),
        ({"customfield_99999": "x"}, "customfield_99999"),
    ):
        answer = await _put(client, key, fields)
        assert answer.status_code == 400
        assert field_id in answer.json()["errors"]
    assert len(seen) == before
    assert await _read(client, key) == {TEXT_FIELD: None, SELECT_FIELD: None}
