"""`POST /github/graphql`: the Projects v2 item listing a connector sends, not general GraphQL.

The query text is not parsed. Regexes pick out `organization(login: ...)`,
`projectV2(number: ...)`, `items(first: ..., after: ...)` (literals or `$variables`) and whether
`rateLimit` is asked for. The answer always carries the full item shape, with `__typename` on the
item, its content and every field value, so any query's inline fragments find their fields; extra
keys are simply ignored by clients. Anything else gets a GraphQL `errors` answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from service.simulator import github_graphql_repo, project_writes, webhooks
from service.simulator.github import StateDep, api_base
from service.simulator.github_app import require_valid_token
from service.simulator.github_data import (
    ITERATIONS,
    STATUS_OPTIONS,
    GitHubData,
    ProjectItem,
    b64id,
)
from service.simulator.graphql_args import (
    _ARG,
    GraphQLError,
    _arg,
    decode_cursor,
    encode_cursor,
)
from service.simulator.middleware import check_write_spacing
from service.simulator.responses import GITHUB_JSON, dumps
from service.simulator.state import SimulatorState

router = APIRouter(prefix="/github")

PROJECT_NUMBER = project_writes.PROJECT_NUMBER
PROJECT_TITLE = "Roadmap"
_ORG = re.compile(r"organization\s*\(\s*login\s*:\s*" + _ARG)
# GraphQL aliases (`owner: organization(...)`) rename the key the answer is returned under.
_ORG_ALIAS = re.compile(r"(\w+)\s*:\s*organization\s*\(")
_PROJECT = re.compile(r"projectV2\s*\(\s*number\s*:\s*" + _ARG)
_REPOSITORY = re.compile(r"\brepository\s*\(")
_ITEMS = re.compile(r"\bitems\s*\(([^)]*)\)")
_FIRST = re.compile(r"\bfirst\s*:\s*" + _ARG)
_AFTER = re.compile(r"\bafter\s*:\s*" + _ARG)

FIELDS = {
    "Title": ("PVTF_title", "ProjectV2Field", "TITLE"),
    "Status": ("PVTSSF_status", "ProjectV2SingleSelectField", "SINGLE_SELECT"),
    "Estimate": ("PVTF_estimate", "ProjectV2Field", "NUMBER"),
    "Iteration": ("PVTIF_iteration", "ProjectV2IterationField", "ITERATION"),
    "Target date": ("PVTF_target", "ProjectV2Field", "DATE"),
    project_writes.INITIATIVE_FIELD[1]: (
        project_writes.INITIATIVE_FIELD[0],
        "ProjectV2SingleSelectField",
        "SINGLE_SELECT",
    ),
    project_writes.NOTE_FIELD[1]: (project_writes.NOTE_FIELD[0], "ProjectV2Field", "TEXT"),
}


def _field(name: str) -> dict[str, Any]:
    if name in (project_writes.INITIATIVE_FIELD[1], project_writes.NOTE_FIELD[1]):
        return project_writes.field_json(name)
    node_id, typename, data_type = FIELDS[name]
    field: dict[str, Any] = {
        "__typename": typename,
        "id": node_id,
        "name": name,
        "dataType": data_type,
    }
    if name == "Status":
        field["options"] = [{"id": oid, "name": oname} for oname, oid in STATUS_OPTIONS]
    if name == "Iteration":
        field["configuration"] = {
            "iterations": [
                {"id": iid, "title": title, "startDate": start, "duration": 14}
                for title, iid, start in ITERATIONS
            ]
        }
    return field


def _field_values(item: ProjectItem) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = [
        {
            "__typename": "ProjectV2ItemFieldTextValue",
            "text": item.issue.title,
            "field": _field("Title"),
        }
    ]
    if item.status is not None:
        name, option = STATUS_OPTIONS[item.status]
        values.append(
            {
                "__typename": "ProjectV2ItemFieldSingleSelectValue",
                "name": name,
                "optionId": option,
                "field": _field("Status"),
            }
        )
    if item.estimate is not None:
        values.append(
            {
                "__typename": "ProjectV2ItemFieldNumberValue",
                "number": item.estimate,
                "field": _field("Estimate"),
            }
        )
    if item.iteration is not None:
        title, iid, start = ITERATIONS[item.iteration]
        values.append(
            {
                "__typename": "ProjectV2ItemFieldIterationValue",
                "title": title,
                "iterationId": iid,
                "startDate": start,
                "duration": 14,
                "field": _field("Iteration"),
            }
        )
    if item.target_date is not None:
        values.append(
            {
                "__typename": "ProjectV2ItemFieldDateValue",
                "date": item.target_date,
                "field": _field("Target date"),
            }
        )
    return values + project_writes.written_values(item)


def _node(data: GitHubData, item: ProjectItem, base: str) -> dict[str, Any]:
    issue = item.issue
    repo = data.repos[issue.repo]
    typename = "PullRequest" if issue.is_pr else "Issue"
    content = {
        "__typename": typename,
        "id": issue.node_id,
        "databaseId": issue.id,
        "number": issue.number,
        "title": issue.title,
        "state": ("MERGED" if issue.merged_at else issue.state.upper()),
        "url": f"https://github.com/{data.org}/{repo.name}/"
        f"{'pull' if issue.is_pr else 'issues'}/{issue.number}",
        "repository": {
            "__typename": "Repository",
            "id": repo.node_id,
            "name": repo.name,
            "nameWithOwner": f"{data.org}/{repo.name}",
            "owner": {"__typename": "Organization", "login": data.org},
        },
    }
    values = _field_values(item)
    return {
        "__typename": "ProjectV2Item",
        "id": item.node_id,
        "type": "PULL_REQUEST" if issue.is_pr else "ISSUE",
        "isArchived": False,
        "content": content,
        "fieldValues": {"totalCount": len(values), "nodes": values},
    }


def project_page(data: GitHubData, base: str, first: Any, after: str | None) -> dict[str, Any]:
    if first is None:
        raise GraphQLError(
            "You must provide a `first` or `last` value to properly paginate the `items` "
            "connection.",
            "MISSING_PAGINATION_BOUNDARIES",
        )
    if not isinstance(first, int) or not 1 <= first <= 100:
        raise GraphQLError(
            f"Requesting {first} records on the `items` connection exceeds the `first` limit "
            "of 100 records.",
            "EXCESSIVE_PAGINATION",
        )
    start = decode_cursor(after) + 1 if after else 0
    chunk: list[tuple[int, ProjectItem]] = []
    has_next = False
    for pos in range(start, len(data.project_items)):
        item = data.project_items[pos]
        if item.issue.deleted:
            continue
        if len(chunk) == first:
            has_next = True
            break
        chunk.append((pos, item))
    return {
        "__typename": "ProjectV2",
        "id": "PVT_kwDO" + b64id(data.org_id, PROJECT_NUMBER),  # project_writes.project_id
        "number": PROJECT_NUMBER,
        "title": PROJECT_TITLE,
        "url": f"https://github.com/orgs/{data.org}/projects/{PROJECT_NUMBER}",
        "fields": {"totalCount": len(FIELDS), "nodes": [_field(name) for name in FIELDS]},
        "items": {
            "totalCount": sum(1 for item in data.project_items if not item.issue.deleted),
            "pageInfo": {
                "hasNextPage": has_next,
                "endCursor": encode_cursor(chunk[-1][0]) if chunk else None,
                "hasPreviousPage": start > 0,
                "startCursor": encode_cursor(chunk[0][0]) if chunk else None,
            },
            "nodes": [_node(data, item, base) for _, item in chunk],
        },
    }


def execute(state: SimulatorState, body: dict[str, Any], base: str) -> dict[str, Any]:
    query = body.get("query")
    if not isinstance(query, str):
        return {
            "errors": [{"message": "A query attribute must be specified and must be a string."}]
        }
    variables = body.get("variables") or {}
    data: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    org_match = _ORG.search(query)
    alias_match = _ORG_ALIAS.search(query)
    org_key = alias_match.group(1) if alias_match else "organization"
    if org_match is not None:
        login = _arg(org_match, variables)
        if not isinstance(login, str) or login.lower() != state.github.org.lower():
            data[org_key] = None
            errors.append(
                {
                    "type": "NOT_FOUND",
                    "path": [org_key],
                    "message": f"Could not resolve to an Organization with the login of '{login}'.",
                }
            )
        else:
            data[org_key] = _organization(state, query, variables, base, errors)
    if _REPOSITORY.search(query):
        data["repository"] = github_graphql_repo.answer(state.github, query, variables, errors)
    if "rateLimit" in query:
        budget = state.graphql
        data["rateLimit"] = {
            "__typename": "RateLimit",
            "cost": 1,
            "limit": budget.limit,
            "remaining": budget.remaining,
            "used": budget.used,
            "resetAt": datetime.fromtimestamp(budget.reset_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "nodeCount": 100,
        }
    if not data:
        errors.append(
            {
                "message": "This simulator answers organization.projectV2.items, repository "
                "(issues, pullRequests, issue, pullRequest) and rateLimit queries only."
            }
        )
    out: dict[str, Any] = {"data": data or None}
    if errors:
        out["errors"] = errors
    return out


def _organization(
    state: SimulatorState,
    query: str,
    variables: dict[str, Any],
    base: str,
    errors: list[dict[str, Any]],
) -> dict[str, Any]:
    org: dict[str, Any] = {"__typename": "Organization", "login": state.github.org}
    number = _arg(_PROJECT.search(query), variables)
    if number is None:
        return org
    if number != PROJECT_NUMBER:
        org["projectV2"] = None
        errors.append(
            {
                "type": "NOT_FOUND",
                "path": ["organization", "projectV2"],
                "message": f"Could not resolve to a ProjectV2 with the number {number}.",
            }
        )
        return org
    items = _ITEMS.search(query)
    if items is None:  # the project and its fields only (how fields and options are read)
        page = project_page(state.github, base, 1, None)
        org["projectV2"] = {k: v for k, v in page.items() if k != "items"}
        return org
    args = items.group(1)
    first = _arg(_FIRST.search(args), variables)
    after = _arg(_AFTER.search(args), variables)
    try:
        org["projectV2"] = project_page(state.github, base, first, after)
    except GraphQLError as exc:
        org["projectV2"] = None
        errors.append({"type": exc.kind or "INVALID", "message": str(exc)})
    return org


@router.post("/graphql", dependencies=[Depends(require_valid_token)])
async def graphql(request: Request, state: StateDep) -> Response:
    budget = state.graphql
    budget.refresh()
    if not request.headers.get("authorization"):
        payload: dict[str, Any] = {
            "message": "This endpoint requires you to be authenticated.",
            "documentation_url": "https://docs.github.com/graphql/guides/forming-calls-with-graphql",
        }
        return Response(dumps(payload), 401, headers=budget.headers(), media_type=GITHUB_JSON)
    if budget.remaining == 0:
        # GraphQL reports an exhausted primary budget in a 200 body, not with 403/429.
        payload = {
            "errors": [
                {"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}
            ]
        }
        return Response(dumps(payload), 200, headers=budget.headers(), media_type=GITHUB_JSON)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        payload = {
            "message": "Problems parsing JSON",
            "documentation_url": "https://docs.github.com/graphql",
        }
        return Response(dumps(payload), 400, headers=budget.headers(), media_type=GITHUB_JSON)
    budget.consume()
    query, variables = body.get("query"), body.get("variables") or {}
    if isinstance(query, str) and project_writes.is_mutation(query):
        check_write_spacing(state)  # a mutation is a write (queries are reads)
        root = str(request.base_url).rstrip("/")
        result, changes = project_writes.execute(state, query, variables, root)
        await webhooks.emit(state, changes, root)
        return Response(dumps(result), 200, headers=budget.headers(), media_type=GITHUB_JSON)
    result = execute(state, body, api_base(request))
    return Response(dumps(result), 200, headers=budget.headers(), media_type=GITHUB_JSON)
