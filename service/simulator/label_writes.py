"""Label writes, each emitting the webhook the real upstream sends (WIRE_FORMATS §7).

GitHub: `POST /repos/{o}/{r}/labels` (201; 422 when it exists), `POST
/repos/{o}/{r}/issues/{n}/labels` (adds; an `issues.labeled` event per new label; unknown
labels are created, as GitHub does), `DELETE /repos/{o}/{r}/issues/{n}/labels/{name}` (404
when absent; `issues.unlabeled`). The sender of token writes is the token's user.
Jira: `PUT /rest/api/3/issue/{key}` with `update.labels` operations (`add`, `remove`, `set`)
or `fields.labels`; 204 and one `jira:issue_updated` with a `labels` changelog item. Labels
with spaces and other fields are refused with Jira's 400 answers.
`POST /_sim/labels` makes the same edits as a person would (`actor`), for conflict tests.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from service.simulator import github_render as gh
from service.simulator import jira_custom_fields as custom_fields
from service.simulator import webhooks
from service.simulator.github import StateDep, _repo, api_base, github_error, require_budget
from service.simulator.github_data import LABEL_NAMES, GhIssue, Repo
from service.simulator.jira import basic_auth
from service.simulator.jira_data import JiraIssue
from service.simulator.mutations import Change, _github_lookup
from service.simulator.responses import GITHUB_JSON, JIRA_JSON, UpstreamError, dumps, jira_error
from service.simulator.state import SimulatorState
from service.simulator.truth import github_key
from service.simulator.words import JIRA_LABELS

BOT_LOGIN = "portfolio-sync-bot"
BOT_ACCOUNT = "712020:simulator"

github_router = APIRouter(prefix="/github", dependencies=[Depends(require_budget)])
jira_router = APIRouter(prefix="/jira", dependencies=[Depends(basic_auth)])
control_router = APIRouter(prefix="/_sim", tags=["simulator control"])


def _sender(login: str) -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 10**8, "type": "User", "site_admin": False}


def _jira_user(name: str) -> dict[str, Any]:
    account = BOT_ACCOUNT if name == BOT_LOGIN else f"712020:{name}"
    return {"accountId": account, "displayName": name, "active": True, "accountType": "atlassian"}


def _github_json(state: SimulatorState, payload: Any, status: int = 200) -> Response:
    state.core.consume()
    return Response(dumps(payload), status, headers=state.core.headers(), media_type=GITHUB_JSON)


def _issue(state: SimulatorState, repo: Repo, number: int) -> GhIssue:
    issue = repo.issue(number)
    if issue is None or issue.deleted:
        raise github_error(state, 404, "Not Found")
    return issue


def _gh_edit(state: SimulatorState, issue: GhIssue, name: str, add: bool, sender: str) -> Change:
    if name in LABEL_NAMES:
        index = LABEL_NAMES.index(name)
        labels = set(issue.labels)
        labels = labels | {index} if add else labels - {index}
        issue.labels = tuple(sorted(labels))
        label: int | str = index
    else:
        extra = [x for x in issue.extra_labels if x != name]
        issue.extra_labels = (*extra, name) if add else tuple(extra)
        label = name
        state.github.repos[issue.repo].custom_labels.setdefault(name, "ededed")
    issue.updated = state.clock.tick() // 1000
    state.github.version += 1
    key = github_key(state.github, issue)
    event = "labeled" if add else "unlabeled"
    details = {"label": label, "sender": _sender(sender)}
    return Change("github", "update", key, issue.node_id, event, issue, details)


class LabelsIn(BaseModel):
    labels: list[str] = Field(min_length=1)


class NewLabelIn(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    color: str = "ededed"
    description: str | None = None


@github_router.post("/repos/{owner}/{repo}/labels")
async def create_label(
    state: StateDep, request: Request, owner: str, repo: str, body: NewLabelIn
) -> Response:
    target = _repo(state, owner, repo)
    if body.name in LABEL_NAMES or body.name in target.custom_labels:
        raise github_error(state, 422, "Validation Failed")
    target.custom_labels[body.name] = body.color
    state.stats.writes["github:label_created"] += 1
    label = gh.custom_label(api_base(request), state.github, target, body.name)
    return _github_json(state, label, 201)


@github_router.post("/repos/{owner}/{repo}/issues/{number}/labels")
async def add_labels(
    state: StateDep, request: Request, owner: str, repo: str, number: int, body: LabelsIn
) -> Response:
    target = _repo(state, owner, repo)
    issue = _issue(state, target, number)
    changes = []
    for name in dict.fromkeys(body.labels):
        if name not in issue.label_names:
            changes.append(_gh_edit(state, issue, name, True, BOT_LOGIN))
            state.stats.writes["github:label_added"] += 1
    await webhooks.emit(state, changes, str(request.base_url).rstrip("/"))
    base = api_base(request)
    return _github_json(state, gh.issue(base, state.github, issue)["labels"])


@github_router.delete("/repos/{owner}/{repo}/issues/{number}/labels/{name}")
async def remove_label(
    state: StateDep, request: Request, owner: str, repo: str, number: int, name: str
) -> Response:
    target = _repo(state, owner, repo)
    issue = _issue(state, target, number)
    if name not in issue.label_names:
        raise github_error(state, 404, "Label does not exist")
    change = _gh_edit(state, issue, name, False, BOT_LOGIN)
    state.stats.writes["github:label_removed"] += 1
    await webhooks.emit(state, [change], str(request.base_url).rstrip("/"))
    return _github_json(state, gh.issue(api_base(request), state.github, issue)["labels"])


def _jira_labels(issue: JiraIssue, body: dict[str, Any]) -> list[str]:
    """The issue's labels after `body`, or Jira's 400 for what it cannot take."""
    update, fields = body.get("update") or {}, body.get("fields") or {}
    unknown = sorted((set(update) | set(fields)) - {"labels", *custom_fields.NAMES})
    if unknown or not isinstance(update, dict) or not isinstance(fields, dict):
        field = unknown[0] if unknown else "update"
        message = f"Field '{field}' cannot be set. It is not on the appropriate screen, or unknown."
        raise UpstreamError(400, {"errorMessages": [], "errors": {field: message}}, github=False)
    labels = list(issue.label_names)
    if "labels" in fields:
        labels = [str(x) for x in fields["labels"] or []]
    for operation in update.get("labels") or []:
        for verb, value in operation.items():
            if verb == "add" and value not in labels:
                labels.append(str(value))
            elif verb == "remove":
                labels = [x for x in labels if x != value]
            elif verb == "set":
                labels = [str(x) for x in value or []]
            elif verb not in ("add", "remove", "set"):
                raise jira_error(400, f"Operation '{verb}' is not supported for labels.")
    bad = [x for x in labels if not x or any(c.isspace() for c in x)]
    if bad:
        message = f"The label '{bad[0]}' contains spaces which is invalid."
        raise UpstreamError(400, {"errorMessages": [], "errors": {"labels": message}}, github=False)
    return labels


def _jira_set(
    state: SimulatorState,
    issue: JiraIssue,
    labels: list[str],
    actor: str,
    custom: list[dict[str, Any]] | None = None,
) -> Change:
    """Apply labels (and already applied custom field changes); one `issue_updated` change."""
    old = issue.label_names
    seeded = [x for x in labels if x in JIRA_LABELS]
    issue.labels = tuple(sorted(JIRA_LABELS.index(x) for x in seeded))
    issue.extra_labels = tuple(x for x in labels if x not in JIRA_LABELS)
    issue.updated = state.clock.tick()
    state.jira.version += 1
    items = list(custom or [])
    if old != issue.label_names or not items:
        item = {
            "field": "labels",
            "fieldtype": "jira",
            "fieldId": "labels",
            "from": None,
            "fromString": " ".join(old),
            "to": None,
            "toString": " ".join(issue.label_names),
        }
        items.insert(0, item)
    return Change(
        "jira",
        "update",
        state.jira.key_of(issue),
        str(issue.id),
        "jira:issue_updated",
        issue,
        {"type_name": "issue_updated", "items": items, "user": _jira_user(actor)},
    )


@jira_router.put("/rest/api/3/issue/{id_or_key}")
async def edit_issue(state: StateDep, request: Request, id_or_key: str) -> Response:
    issue = _jira_issue(state, id_or_key)
    try:
        body = await request.json()
    except ValueError:
        raise jira_error(400, "Unexpected character in the request body.") from None
    body = body if isinstance(body, dict) else {}
    old = issue.label_names
    labels = _jira_labels(issue, body)
    values = custom_fields.parse(body.get("fields") or {})
    added = len(set(labels) - set(old))
    removed = len(set(old) - set(labels))
    custom = custom_fields.apply(issue, values)
    for name, count in (
        ("jira:label_added", added),
        ("jira:label_removed", removed),
        ("jira:custom_field_set", len(values)),
    ):
        if count:
            state.stats.writes[name] += count
    if added or removed or custom:
        change = _jira_set(state, issue, labels, BOT_LOGIN, custom)
        await webhooks.emit(state, [change], str(request.base_url).rstrip("/"))
    state.stats.writes["jira:issue_edits"] += 1
    return Response(status_code=204)


def _jira_issue(state: SimulatorState, id_or_key: str) -> JiraIssue:
    issue = state.jira.find(id_or_key)
    if issue is None or issue.deleted:
        raise jira_error(404, "Issue does not exist or you do not have permission to see it.")
    return issue


@jira_router.put("/rest/api/3/issue/{id_or_key}/properties/{name}")
async def set_property(state: StateDep, request: Request, id_or_key: str, name: str) -> Response:
    """Sets the whole value (201 when new, 200 when replaced); an `issue_property_set` event."""
    issue = _jira_issue(state, id_or_key)
    try:
        value = await request.json()
    except ValueError:
        raise jira_error(400, "The property value must be valid JSON.") from None
    properties = issue.properties = issue.properties or {}
    status = 200 if name in properties else 201
    properties[name] = value
    state.stats.writes["jira:property_set"] += 1
    details = {
        "property": {"key": name, "value": value},
        "user": _jira_user(BOT_LOGIN),
        "type_name": "issue_property_set",
    }
    change = Change(
        "jira",
        "update",
        state.jira.key_of(issue),
        str(issue.id),
        "issue_property_set",
        issue,
        details,
    )
    await webhooks.emit(state, [change], str(request.base_url).rstrip("/"))
    return Response(status_code=status)


@jira_router.get("/rest/api/3/issue/{id_or_key}/properties/{name}")
async def get_property(state: StateDep, id_or_key: str, name: str) -> Response:
    issue = _jira_issue(state, id_or_key)
    if name not in (issue.properties or {}):
        raise jira_error(404, f"The property with key '{name}' does not exist.")
    payload = {"key": name, "value": (issue.properties or {})[name]}
    return Response(dumps(payload), media_type=JIRA_JSON)


class PersonEditIn(BaseModel):
    """A person's label edit in the upstream UI (`acme/web#3` or `PLAT-7`)."""

    key: str
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    actor: str = "octo-person"


@control_router.post("/labels")
async def person_edit(state: StateDep, request: Request, body: PersonEditIn) -> dict[str, Any]:
    root = str(request.base_url).rstrip("/")
    if "#" in body.key:
        issue = _github_lookup(state, body.key)
        if issue is None or issue.deleted:
            raise HTTPException(404, f"{body.key} does not exist")
        changes = [_gh_edit(state, issue, n, False, body.actor) for n in body.remove]
        changes += [_gh_edit(state, issue, n, True, body.actor) for n in body.add]
        labels = issue.label_names
    else:
        jira_issue = state.jira.find(body.key)
        if jira_issue is None or jira_issue.deleted:
            raise HTTPException(404, f"{body.key} does not exist")
        wanted = [x for x in jira_issue.label_names if x not in body.remove] + [
            x for x in body.add if x not in jira_issue.label_names
        ]
        changes = [_jira_set(state, jira_issue, wanted, body.actor)]
        labels = jira_issue.label_names
    return {"labels": sorted(labels), "webhooks": await webhooks.emit(state, changes, root)}


class PersonFieldEditIn(BaseModel):
    """A person's edit of a Jira custom field in the upstream UI: a value, or None to clear."""

    key: str
    field: str
    value: str | None = None
    actor: str = "octo-person"


@control_router.post("/fields")
async def person_field_edit(
    state: StateDep, request: Request, body: PersonFieldEditIn
) -> dict[str, Any]:
    """Sets the field as a person would (no write counted); one `jira:issue_updated`."""
    issue = state.jira.find(body.key)
    if issue is None or issue.deleted:
        raise HTTPException(404, f"{body.key} does not exist")
    if body.field not in custom_fields.NAMES:
        raise HTTPException(400, f"{body.field} is not a writable custom field")
    sent: Any = body.value
    if body.value is not None and body.field == custom_fields.SELECT_FIELD:
        sent = {"value": body.value}
    try:
        values = custom_fields.parse({body.field: sent})
    except UpstreamError as exc:
        raise HTTPException(400, str(exc)) from None
    items = custom_fields.apply(issue, values)
    if not items:
        return {"value": body.value, "webhooks": []}
    change = _jira_set(state, issue, issue.label_names, body.actor, items)
    root = str(request.base_url).rstrip("/")
    return {"value": body.value, "webhooks": await webhooks.emit(state, [change], root)}
