"""Jira Cloud REST v3 under `/jira`: enhanced JQL search, fields, myself, project, issue."""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from service.simulator import jira_custom_fields as custom_fields
from service.simulator import jira_render as render
from service.simulator.github import StateDep
from service.simulator.jira_data import ISSUE_TYPES, JiraIssue
from service.simulator.jql import JQLError, compile_jql
from service.simulator.responses import JIRA_JSON, dumps, jira_error
from service.simulator.state import SimulatorState

LEGACY_SEARCH_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at "
    "https://developer.atlassian.com/changelog/#CHANGE-2046"
)
ID_ONLY_CAP = 5000
FULL_CAP = 100


def basic_auth(request: Request) -> str:
    """Any non-empty `email:token` (or bearer token) is accepted; returns the email."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return "oauth-user@example.com"
    if scheme.lower() == "basic":
        try:
            email, _, token = base64.b64decode(credentials).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            email = token = ""
        if email and token:
            return email
    raise jira_error(
        401,
        "You are not authenticated. Authentication required to perform this operation.",
        headers={"www-authenticate": 'Basic realm="protected-by-api-token"'},
    )


AuthDep = Annotated[str, Depends(basic_auth)]
router = APIRouter(prefix="/jira", dependencies=[Depends(basic_auth)])


def site_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/jira"


def ok(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status, media_type=JIRA_JSON)


@dataclass
class SearchResult:
    keys: list[tuple[int, ...]]
    issues: list[JiraIssue]


def resolve_fields(raw: list[str]) -> frozenset[str]:
    """Jira's `fields` semantics: default `id` only; `*all`/`*navigable`; `-name` removes."""
    names = [n.strip() for entry in raw for n in entry.split(",") if n.strip()]
    if not names:
        return frozenset({"id"})
    chosen: set[str] = {"id"}
    for name in names:
        if name in ("*all", "*navigable"):
            chosen |= render.ALL_FIELDS | {"key"}
        elif not name.startswith("-"):
            chosen.add(name)
    for name in names:
        if name.startswith("-"):
            chosen.discard(name[1:])
    return frozenset(chosen)


def _search(state: SimulatorState, jql: str) -> SearchResult:
    def build() -> SearchResult:
        try:
            compiled = compile_jql(jql, state.jira, state.tz, state.clock.now_ms)
        except JQLError as exc:
            raise jira_error(400, str(exc)) from None
        rows = sorted(
            (
                (compiled.sort_key(i), i)
                for i in state.jira.issues.values()
                if not i.deleted and compiled.predicate(i)
            ),
            key=lambda row: row[0],
        )
        return SearchResult([k for k, _ in rows], [i for _, i in rows])

    result: SearchResult = state.jira_searches.get_or_build((jql, state.jira.version), build)
    return result


def _token(jql: str, key: tuple[int, ...]) -> str:
    raw = json.dumps({"q": hashlib.sha256(jql.encode()).hexdigest()[:16], "k": list(key)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after(jql: str, token: str) -> tuple[int, ...]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if raw["q"] != hashlib.sha256(jql.encode()).hexdigest()[:16]:
            raise ValueError("token belongs to another query")
        return tuple(int(v) for v in raw["k"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise jira_error(400, "The provided next page token is invalid or expired.") from None


def search_page(
    request: Request,
    state: SimulatorState,
    jql: str | None,
    token: str | None,
    max_results: int | None,
    fields: list[str],
) -> Response:
    if not jql or not jql.strip():
        raise jira_error(
            400,
            "Unbounded JQL queries are not allowed here. Please add a search "
            "restriction to your query.",
        )
    chosen = resolve_fields(fields)
    cap = ID_ONLY_CAP if chosen <= {"id", "key"} else FULL_CAP
    limit = min(max(max_results if max_results is not None else 50, 1), cap)
    result = _search(state, jql)
    start = bisect.bisect_right(result.keys, _after(jql, token)) if token else 0
    chunk = result.issues[start : start + limit]
    site = site_url(request)
    payload: dict[str, Any] = {
        "issues": [render.issue_json(site, state.jira, i, chosen, state.tz) for i in chunk]
    }
    end = start + len(chunk)
    if end < len(result.issues):
        payload["nextPageToken"] = _token(jql, result.keys[end - 1])
    payload["isLast"] = end >= len(result.issues)
    return ok(payload)


@router.get("/rest/api/3/search/jql")
async def search_get(
    request: Request,
    state: StateDep,
    jql: str | None = None,
    nextPageToken: str | None = None,
    maxResults: int | None = None,
) -> Response:
    fields = request.query_params.getlist("fields")
    return search_page(request, state, jql, nextPageToken, maxResults, fields)


@router.post("/rest/api/3/search/jql")
async def search_post(request: Request, state: StateDep) -> Response:
    body = await _json_body(request)
    raw_fields = body.get("fields") or []
    fields = [raw_fields] if isinstance(raw_fields, str) else [str(f) for f in raw_fields]
    max_results = body.get("maxResults")
    if max_results is not None and not isinstance(max_results, int):
        raise jira_error(400, "maxResults must be an integer.")
    return search_page(
        request, state, body.get("jql"), body.get("nextPageToken"), max_results, fields
    )


@router.post("/rest/api/3/search/approximate-count")
async def approximate_count(request: Request, state: StateDep) -> Response:
    body = await _json_body(request)
    return ok({"count": len(_search(state, str(body.get("jql") or "")).issues)})


@router.api_route("/rest/api/{version}/search", methods=["GET", "POST"])
async def legacy_search(version: str) -> Response:
    raise jira_error(410, LEGACY_SEARCH_GONE)


@router.get("/rest/api/3/field")
async def fields_list() -> Response:
    out = [_system_field(name) for name in render.SYSTEM_FIELDS]
    out += [
        _custom_field(
            render.EPIC_LINK_FIELD, "Epic Link", "any", "com.pyxis.greenhopper.jira:gh-epic-link"
        ),
        _custom_field(
            render.STORY_POINTS_FIELD,
            "Story point estimate",
            "number",
            "com.pyxis.greenhopper.jira:jsw-story-points",
        ),
        _custom_field(render.RANK_FIELD, "Rank", "any", "com.pyxis.greenhopper.jira:gh-lexo-rank"),
        _custom_field(
            render.SPRINT_FIELD,
            "Sprint",
            "array",
            "com.pyxis.greenhopper.jira:gh-sprint",
            items="json",
        ),
    ]
    out += [_custom_field(*listed) for listed in custom_fields.listed()]
    return ok(out)


def _system_field(name: str) -> dict[str, Any]:
    return {
        "id": name,
        "key": name,
        "name": name[:1].upper() + name[1:],
        "custom": False,
        "orderable": True,
        "navigable": True,
        "searchable": True,
        "clauseNames": [name],
        "schema": {"type": "string", "system": name},
    }


def _custom_field(
    field_id: str, name: str, kind: str, custom: str, items: str | None = None
) -> dict[str, Any]:
    number = int(field_id.rsplit("_", 1)[1])
    schema: dict[str, Any] = {"type": kind, "custom": custom, "customId": number}
    if items:
        schema["items"] = items
    return {
        "id": field_id,
        "key": field_id,
        "name": name,
        "untranslatedName": name,
        "custom": True,
        "orderable": True,
        "navigable": True,
        "searchable": True,
        "clauseNames": [f"cf[{number}]", name],
        "schema": schema,
    }


@router.get("/rest/api/3/myself")
async def myself(request: Request, state: StateDep, email: AuthDep) -> Response:
    site = site_url(request)
    return ok(
        {
            "self": f"{site}/rest/api/3/user?accountId=712020%3Asimulator",
            "accountId": "712020:simulator",
            "accountType": "atlassian",
            "emailAddress": email,
            "displayName": "Portfolio Sync Bot",
            "active": True,
            "timeZone": state.config.jira_time_zone,
            "locale": "en_US",
            "groups": {"size": 1, "items": []},
            "applicationRoles": {"size": 1, "items": []},
        }
    )


@router.get("/rest/api/3/project/{key}")
async def get_project(request: Request, state: StateDep, key: str) -> Response:
    found = state.jira.project(key)
    if found is None:
        raise jira_error(404, "No project could be found with key '" + key + "'.")
    site = site_url(request)
    out = render.project(site, "3", state.jira, found.index)
    out["description"] = f"Work of the {found.name}"
    out["style"] = "classic"
    out["issueTypes"] = [render.issuetype(site, "3", k) for k in range(len(ISSUE_TYPES))]
    return ok(out)


@router.get("/rest/api/3/issue/{id_or_key}")
async def get_issue(request: Request, state: StateDep, id_or_key: str) -> Response:
    issue = state.jira.find(id_or_key)
    if issue is None or issue.deleted:
        raise jira_error(404, "Issue does not exist or you do not have permission to see it.")
    fields = resolve_fields(request.query_params.getlist("fields") or ["*all"])
    return ok(render.issue_json(site_url(request), state.jira, issue, fields | {"key"}, state.tz))


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise jira_error(400, "Unexpected request body: a JSON object is required.")
    return body
