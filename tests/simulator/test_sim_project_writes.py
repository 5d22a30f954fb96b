"""Projects v2 field mutations in the simulator: checked against the project's fields and
options, refused in GraphQL `errors` form, and each change sends one signed
`projects_v2_item` `edited` delivery."""

import json

import httpx

from connectors.github.project_writes import CLEAR_MUTATION, SET_MUTATION
from service.simulator import SimulatorConfig, create_app
from service.simulator.webhooks import signature

from .conftest import BASE
from .test_sim_webhooks import GH_SECRET, wired  # noqa: F401 (fixture)

AUTH = {"authorization": "bearer test-token"}
DESCRIBE = """
query {
  organization(login: "acme") {
    projectV2(number: 1) {
      id
      fields(first: 50) { nodes { ... on ProjectV2FieldCommon { id name dataType } } }
      items(first: 100) {
        nodes {
          id
          fieldValues(first: 30) {
            nodes {
              ... on ProjectV2ItemFieldSingleSelectValue { name field { ...F } }
              ... on ProjectV2ItemFieldTextValue { text field { ...F } }
            }
          }
        }
      }
    }
  }
}
fragment F on ProjectV2FieldCommon { name }
"""


async def _gql(client: httpx.AsyncClient, query: str, variables: dict | None = None) -> dict:
    answer = await client.post(
        "/github/graphql", json={"query": query, "variables": variables or {}}, headers=AUTH
    )
    assert answer.status_code == 200
    return answer.json()


def _value(item: dict, field: str) -> object:
    for node in item["fieldValues"]["nodes"]:
        if node.get("field", {}).get("name") == field:
            return node.get("name", node.get("text"))
    return None


async def test_set_and_clear_fields_emit_signed_project_item_events(wired) -> None:  # noqa: F811
    client, seen = wired
    project = (await _gql(client, DESCRIBE))["data"]["organization"]["projectV2"]
    fields = {f["name"]: f for f in project["fields"]["nodes"]}
    assert fields["Initiative"]["dataType"] == "SINGLE_SELECT"
    assert fields["Initiative note"]["dataType"] == "TEXT"
    options = {o["name"]: o["id"] for o in fields["Initiative"]["options"]}
    item_id = project["items"]["nodes"][0]["id"]
    ids = {"projectId": project["id"], "itemId": item_id}
    select = {**ids, "fieldId": fields["Initiative"]["id"]}
    text = {**ids, "fieldId": fields["Initiative note"]["id"]}
    before = len(seen)

    option = {"singleSelectOptionId": options["Search quality"]}
    done = await _gql(client, SET_MUTATION, {**select, "value": option})
    assert done == {"data": {"updateProjectV2ItemFieldValue": {"projectV2Item": {"id": item_id}}}}
    await _gql(client, SET_MUTATION, {**text, "value": {"text": "Search quality"}})
    # The same value again changes nothing and sends nothing.
    await _gql(client, SET_MUTATION, {**select, "value": option})
    assert len(seen) == before + 2

    items = (await _gql(client, DESCRIBE))["data"]["organization"]["projectV2"]["items"]["nodes"]
    item = next(i for i in items if i["id"] == item_id)
    assert _value(item, "Initiative") == "Search quality"
    assert _value(item, "Initiative note") == "Search quality"

    path, headers, body = seen[before]
    assert path == "/webhooks/github/gh-1"
    assert headers["x-github-event"] == "projects_v2_item"
    assert headers["x-hub-signature-256"] == signature(GH_SECRET, body)
    payload = json.loads(body)
    assert payload["action"] == "edited"
    assert payload["projects_v2_item"]["node_id"] == item_id
    assert payload["projects_v2_item"]["project_node_id"] == project["id"]
    assert payload["changes"]["field_value"] == {
        "field_node_id": fields["Initiative"]["id"],
        "field_type": "single_select",
    }

    cleared = await _gql(client, CLEAR_MUTATION, select)
    assert cleared["data"]["clearProjectV2ItemFieldValue"]["projectV2Item"]["id"] == item_id
    assert len(seen) == before + 3
    items = (await _gql(client, DESCRIBE))["data"]["organization"]["projectV2"]["items"]["nodes"]
    assert _value(next(i for i in items if i["id"] == item_id), "Initiative") is None
    stats = (await client.get("/_sim/stats")).json()["writes"]
    assert stats["github:project_field_set"] == 3
    assert stats["github:project_field_cleared"] == 1


async def test_refusals_come_back_as_graphql_errors_and_change_nothing(wired) -> None:  # noqa: F811
    client, seen = wired
    project = (await _gql(client, DESCRIBE))["data"]["organization"]["projectV2"]
    fields = {f["name"]: f["id"] for f in project["fields"]["nodes"]}
    ids = {"projectId": project["id"], "itemId": project["items"]["nodes"][0]["id"]}
    before = len(seen)
    cases = [
        ({**ids, "fieldId": fields["Initiative"], "value": {"singleSelectOptionId": "nope"}}, ""),
        ({**ids, "fieldId": fields["Initiative note"], "value": {"number": 3}}, ""),
        ({**ids, "fieldId": fields["Status"], "value": {"text": "x"}}, ""),
        ({**ids, "itemId": "PVTI_missing", "fieldId": fields["Initiative"]}, "NOT_FOUND"),
        ({**ids, "projectId": "PVT_other", "fieldId": fields["Initiative"]}, "NOT_FOUND"),
    ]
    for variables, kind in cases:
        answer = await _gql(client, SET_MUTATION, variables)
        assert answer["data"] == {"updateProjectV2ItemFieldValue": None}
        assert answer["errors"][0]["message"]
        if kind:
            assert answer["errors"][0]["type"] == kind
    assert len(seen) == before
    assert "github:project_field_set" not in (await client.get("/_sim/stats")).json()["writes"]


async def test_mutations_are_judged_as_writes_for_spacing_and_queries_are_not() -> None:
    config = SimulatorConfig(seed=5, github_issues=20, jira_issues=10, github_write_interval=1.0)
    app = create_app(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        project = (await _gql(client, DESCRIBE))["data"]["organization"]["projectV2"]
        await _gql(client, DESCRIBE)  # queries are reads: never judged
        fields = {f["name"]: f["id"] for f in project["fields"]["nodes"]}
        ids = {"projectId": project["id"], "fieldId": fields["Initiative note"]}
        for item in project["items"]["nodes"][:3]:
            variables = {**ids, "itemId": item["id"], "value": {"text": "Search quality"}}
            await _gql(client, SET_MUTATION, variables)
        stats = (await client.get("/_sim/stats")).json()
    # Three mutations back to back with one second required between writes: two too soon.
    assert stats["rate_limit_violations_by_upstream"] == {"github_write_spacing": 2}
