import httpx

from service.simulator.middleware import SimulatorMiddleware

AUTH = {"authorization": "bearer test-token"}
ITEMS_QUERY = """
query($org: String!, $number: Int!, $cursor: String) {
  organization(login: $org) {
    projectV2(number: $number) {
      items(first: 40, after: $cursor) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id
          content { ... on Issue { id number } ... on PullRequest { id number } }
          fieldValues(first: 20) {
            nodes {
              ... on ProjectV2ItemFieldSingleSelectValue {
                name field { ... on ProjectV2FieldCommon { name } }
              }
              ... on ProjectV2ItemFieldNumberValue {
                number field { ... on ProjectV2FieldCommon { name } }
              }
            }
          }
        }
      }
    }
  }
  rateLimit { cost remaining resetAt limit used }
}
"""


async def fetch_all(client: httpx.AsyncClient) -> list[dict]:
    nodes: list[dict] = []
    cursor = None
    while True:
        response = await client.post(
            "/github/graphql",
            json={
                "query": ITEMS_QUERY,
                "variables": {"org": "acme", "number": 1, "cursor": cursor},
            },
            headers=AUTH,
        )
        assert response.status_code == 200
        body = response.json()
        assert "errors" not in body
        items = body["data"]["organization"]["projectV2"]["items"]
        nodes += items["nodes"]
        if not items["pageInfo"]["hasNextPage"]:
            return nodes
        cursor = items["pageInfo"]["endCursor"]


async def test_paging_with_variables_returns_every_project_item_once(
    client: httpx.AsyncClient, app: SimulatorMiddleware
) -> None:
    nodes = await fetch_all(client)

    expected = [i for i in app.state.github.project_items if not i.issue.deleted]
    assert len(expected) > 40
    assert [n["id"] for n in nodes] == [i.node_id for i in expected]
    assert [n["content"]["id"] for n in nodes] == [i.issue.node_id for i in expected]


async def test_nodes_carry_typenames_and_status_and_estimate_values(
    client: httpx.AsyncClient,
) -> None:
    nodes = await fetch_all(client)

    assert {n["content"]["__typename"] for n in nodes} == {"Issue", "PullRequest"}
    values = [v for n in nodes for v in n["fieldValues"]["nodes"]]
    statuses = {
        v["name"] for v in values if v["__typename"] == "ProjectV2ItemFieldSingleSelectValue"
    }
    estimates = [v["number"] for v in values if v["__typename"] == "ProjectV2ItemFieldNumberValue"]
    assert statuses == {"Todo", "In Progress", "Done"}
    assert estimates and all(isinstance(e, float) for e in estimates)
    assert {v["field"]["name"] for v in values} >= {"Title", "Status", "Estimate"}


async def test_content_ids_match_the_rest_node_ids(client: httpx.AsyncClient) -> None:
    nodes = await fetch_all(client)
    rest: dict[str, dict] = {}
    for repo in ("web", "api", "mobile"):
        for page in (1, 2):
            response = await client.get(
                f"/github/repos/acme/{repo}/issues",
                params={"state": "all", "per_page": 100, "page": page},
            )
            rest |= {i["node_id"]: i for i in response.json()}

    for node in nodes:
        assert rest[node["content"]["id"]]["number"] == node["content"]["number"]


async def test_literal_arguments_and_rate_limit_block(client: httpx.AsyncClient) -> None:
    query = (
        'query { organization(login: "acme") { projectV2(number: 1) { items(first: 5) {'
        " pageInfo { hasNextPage endCursor } nodes { id } } } }"
        " rateLimit { cost remaining limit used resetAt } }"
    )

    first = await client.post("/github/graphql", json={"query": query}, headers=AUTH)
    cursor = first.json()["data"]["organization"]["projectV2"]["items"]["pageInfo"]["endCursor"]
    second = await client.post(
        "/github/graphql",
        json={"query": query.replace("items(first: 5)", f'items(first: 5, after: "{cursor}")')},
        headers=AUTH,
    )

    page_one = [
        n["id"] for n in first.json()["data"]["organization"]["projectV2"]["items"]["nodes"]
    ]
    page_two = [
        n["id"] for n in second.json()["data"]["organization"]["projectV2"]["items"]["nodes"]
    ]
    assert len(page_one) == len(page_two) == 5
    assert not set(page_one) & set(page_two)
    rate = second.json()["data"]["rateLimit"]
    assert rate["cost"] == 1 and rate["used"] == 2 and rate["remaining"] == rate["limit"] - 2
    assert second.headers["x-ratelimit-resource"] == "graphql"


async def test_unknown_project_and_oversized_page_are_graphql_errors(
    client: httpx.AsyncClient,
) -> None:
    unknown = await client.post(
        "/github/graphql",
        json={"query": ITEMS_QUERY, "variables": {"org": "acme", "number": 9}},
        headers=AUTH,
    )
    too_big = await client.post(
        "/github/graphql",
        json={
            "query": ITEMS_QUERY.replace("first: 40", "first: 101"),
            "variables": {"org": "acme", "number": 1},
        },
        headers=AUTH,
    )

    assert unknown.status_code == 200
    assert unknown.json()["data"]["organization"]["projectV2"] is None
    assert unknown.json()["errors"][0]["type"] == "NOT_FOUND"
    assert "exceeds the `first` limit of 100" in too_big.json()["errors"][0]["message"]


async def test_graphql_requires_authentication(client: httpx.AsyncClient) -> None:
    response = await client.post("/github/graphql", json={"query": ITEMS_QUERY})

    assert response.status_code == 401


async def test_deleted_issues_leave_the_project(
    client: httpx.AsyncClient, app: SimulatorMiddleware
) -> None:
    before = await fetch_all(client)
    victim = next(
        i.issue
        for i in app.state.github.project_items
        if not i.issue.is_pr
        and not app.state.github.repos[i.issue.repo].children.get(i.issue.number)
    )
    key = f"acme/{app.state.github.repos[victim.repo].name}#{victim.number}"
    await client.post("/_sim/mutate", json={"github": {"delete": [key]}})

    after = await fetch_all(client)

    assert len(after) == len(before) - 1
    assert victim.node_id not in {n["content"]["id"] for n in after}
