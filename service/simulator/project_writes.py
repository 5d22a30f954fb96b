"""Projects v2 field mutations on the simulator's one project, each emitting its webhook.

`updateProjectV2ItemFieldValue(input: {projectId, itemId, fieldId, value})` and
`clearProjectV2ItemFieldValue(input: {projectId, itemId, fieldId})`, with the input given as
`$variables` (how the connector sends it). Only the writable fields below are accepted:
`Initiative` (single select, `value.singleSelectOptionId` must be one of its options) and
`Initiative note` (text, `value.text`). Refusals come back in GraphQL `errors` form. A change
emits one `projects_v2_item` `edited` delivery (org-level hooks and the configured target),
with `changes.field_value` naming the field, as GitHub sends it.
"""

from __future__ import annotations

import re
from typing import Any

from service.simulator import github_render as gh
from service.simulator.github_data import ProjectItem, b64id
from service.simulator.label_writes import BOT_LOGIN, _sender
from service.simulator.mutations import Change
from service.simulator.state import SimulatorState
from service.simulator.words import INITIATIVE_TITLES

PROJECT_NUMBER = 1
INITIATIVE_FIELD = ("PVTSSF_initiative", "Initiative")
NOTE_FIELD = ("PVTF_initiative_note", "Initiative note")
# Options of the `Initiative` single-select field (titles the store can use).
INITIATIVE_OPTIONS = [
    (title, "opt_init_" + title.split()[0].lower()) for title in INITIATIVE_TITLES
]
_MUTATION = re.compile(r"^\s*mutation\b")
_OPERATIONS = ("updateProjectV2ItemFieldValue", "clearProjectV2ItemFieldValue")


def project_id(state: SimulatorState) -> str:
    return "PVT_kwDO" + b64id(state.github.org_id, PROJECT_NUMBER)


def is_mutation(query: str) -> bool:
    return bool(_MUTATION.match(query))


def written_values(item: ProjectItem) -> list[dict[str, Any]]:
    """Field values of the writable fields, in the shape of the item listing."""
    values: list[dict[str, Any]] = []
    option = item.written.get(INITIATIVE_FIELD[0])
    names = {oid: name for name, oid in INITIATIVE_OPTIONS}
    if option in names:
        values.append(
            {
                "__typename": "ProjectV2ItemFieldSingleSelectValue",
                "name": names[option],
                "optionId": option,
                "field": field_json(INITIATIVE_FIELD[1]),
            }
        )
    text = item.written.get(NOTE_FIELD[0])
    if text is not None:
        values.append(
            {
                "__typename": "ProjectV2ItemFieldTextValue",
                "text": text,
                "field": field_json(NOTE_FIELD[1]),
            }
        )
    return values


def field_json(name: str) -> dict[str, Any]:
    if name == INITIATIVE_FIELD[1]:
        return {
            "__typename": "ProjectV2SingleSelectField",
            "id": INITIATIVE_FIELD[0],
            "name": name,
            "dataType": "SINGLE_SELECT",
            "options": [{"id": oid, "name": oname} for oname, oid in INITIATIVE_OPTIONS],
        }
    return {"__typename": "ProjectV2Field", "id": NOTE_FIELD[0], "name": name, "dataType": "TEXT"}


class _Refused(ValueError):
    def __init__(self, message: str, kind: str = "UNPROCESSABLE") -> None:
        super().__init__(message)
        self.kind = kind


def _missing(node_id: Any) -> _Refused:
    return _Refused(f"Could not resolve to a node with the global id of '{node_id}'", "NOT_FOUND")


def _apply(state: SimulatorState, operation: str, args: dict[str, Any]) -> tuple[ProjectItem, Any]:
    if args.get("projectId") != project_id(state):
        raise _Refused(
            f"Could not resolve to a node with the global id of '{args.get('projectId')}'",
            "NOT_FOUND",
        )
    item = next(
        (i for i in state.github.project_items if i.node_id == args.get("itemId")),
        None,
    )
    if item is None or item.issue.deleted:
        raise _Refused(
            f"Could not resolve to a node with the global id of '{args.get('itemId')}'", "NOT_FOUND"
        )
    field_id = args.get("fieldId")
    if field_id not in (INITIATIVE_FIELD[0], NOTE_FIELD[0]):
        raise _Refused(f"The field {field_id!r} does not exist or cannot be updated this way")
    before = item.written.get(field_id)
    if operation == "clearProjectV2ItemFieldValue":
        item.written.pop(field_id, None)
        return item, before
    value = args.get("value") or {}
    if field_id == INITIATIVE_FIELD[0]:
        option = value.get("singleSelectOptionId")
        if option not in {oid for _, oid in INITIATIVE_OPTIONS}:
            raise _Refused(f"The single select option Id does not belong to the field: {option!r}")
        item.written[field_id] = option
    else:
        text = value.get("text")
        if not isinstance(text, str):
            raise _Refused("A text value is required for a text field")
        item.written[field_id] = text
    return item, before


def _change(state: SimulatorState, root: str, item: ProjectItem, field_id: str) -> Change:
    base = root + "/github"
    issue = item.issue
    now = state.clock.tick() // 1000
    state.github.version += 1
    field_type = "single_select" if field_id == INITIATIVE_FIELD[0] else "text"
    sender = _sender(BOT_LOGIN)
    payload = {
        "action": "edited",
        "projects_v2_item": {
            "id": item.seq,
            "node_id": item.node_id,
            "project_node_id": project_id(state),
            "content_node_id": issue.node_id,
            "content_type": "PullRequest" if issue.is_pr else "Issue",
            "creator": sender,
            "created_at": gh.iso(issue.created),
            "updated_at": gh.iso(now),
            "archived_at": None,
        },
        "changes": {"field_value": {"field_node_id": field_id, "field_type": field_type}},
        "organization": gh.organization(base, state.github),
        "sender": sender,
    }
    details = {"github_event": "projects_v2_item", "payload": payload}
    key = f"{state.github.org}/project/{PROJECT_NUMBER}/{item.node_id}"
    return Change("github", "update", key, item.node_id, "edited", issue, details)


def execute(
    state: SimulatorState, query: str, variables: dict[str, Any], root: str
) -> tuple[dict[str, Any], list[Change]]:
    """Run one mutation; the answer (`data`/`errors`) and the changes to emit."""
    operation = next((op for op in _OPERATIONS if op in query), None)
    if operation is None:
        message = "This simulator's mutations: " + ", ".join(_OPERATIONS)
        return {"data": None, "errors": [{"message": message}]}, []
    try:
        item, before = _apply(state, operation, variables)
    except _Refused as exc:
        error = {"type": exc.kind, "path": [operation], "message": str(exc)}
        return {"data": {operation: None}, "errors": [error]}, []
    field_id = str(variables["fieldId"])
    changed = before != item.written.get(field_id)
    state.stats.writes[f"github:project_field_{'cleared' if 'clear' in operation else 'set'}"] += 1
    answer = {"data": {operation: {"projectV2Item": {"id": item.node_id}}}}
    return answer, [_change(state, root, item, field_id)] if changed else []
