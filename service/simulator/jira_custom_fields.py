"""Two writable Jira custom fields: `Initiative` (text) and `Initiative (select)`.

They are listed by `GET /rest/api/3/field`, set through `PUT /rest/api/3/issue/{key}`
(`fields.<id>`: a string or null for the text field, `{"value": name}` or null for the select,
whose options are the simulator's initiative names) and returned when asked for by id in
`fields=`. Each change is one changelog item of the `jira:issue_updated` the edit sends.
"""

from __future__ import annotations

from typing import Any

from service.simulator.jira_data import JiraIssue
from service.simulator.responses import UpstreamError
from service.simulator.words import INITIATIVE_TITLES

TEXT_FIELD = "customfield_10060"
SELECT_FIELD = "customfield_10061"
NAMES = {TEXT_FIELD: "Initiative", SELECT_FIELD: "Initiative (select)"}
OPTIONS = {name: str(10100 + n) for n, name in enumerate(INITIATIVE_TITLES)}
_TYPES = "com.atlassian.jira.plugin.system.customfieldtypes:"


def listed() -> list[tuple[str, str, str, str]]:
    """(id, name, schema type, schema custom) for the field list."""
    return [
        (TEXT_FIELD, NAMES[TEXT_FIELD], "string", _TYPES + "textfield"),
        (SELECT_FIELD, NAMES[SELECT_FIELD], "option", _TYPES + "select"),
    ]


def _refuse(field_id: str, message: str) -> UpstreamError:
    return UpstreamError(400, {"errorMessages": [], "errors": {field_id: message}}, github=False)


def parse(fields: dict[str, Any]) -> dict[str, str | None]:
    """The custom values a `PUT` body sets (None clears), or Jira's 400."""
    found: dict[str, str | None] = {}
    for field_id in NAMES:
        if field_id not in fields:
            continue
        value = fields[field_id]
        if value is None:
            found[field_id] = None
        elif field_id == TEXT_FIELD:
            if not isinstance(value, str) or len(value) > 255:
                raise _refuse(field_id, "Operation value must be a string")
            found[field_id] = value
        else:
            name = value.get("value") if isinstance(value, dict) else None
            if name not in OPTIONS:
                raise _refuse(field_id, f"Option value '{name}' is not valid")
            found[field_id] = str(name)
    return found


def apply(issue: JiraIssue, values: dict[str, str | None]) -> list[dict[str, Any]]:
    """Set the values; the changelog items of those that changed."""
    current = issue.custom if issue.custom is not None else {}
    items = []
    for field_id, value in values.items():
        old = current.get(field_id)
        if old == value:
            continue
        if value is None:
            current.pop(field_id, None)
        else:
            current[field_id] = value
        select = field_id == SELECT_FIELD
        items.append(
            {
                "field": NAMES[field_id],
                "fieldtype": "custom",
                "fieldId": field_id,
                "from": OPTIONS.get(old or "") if select else None,
                "fromString": old,
                "to": OPTIONS.get(value or "") if select else None,
                "toString": value,
            }
        )
    issue.custom = current or None
    return items


def render(issue: JiraIssue, field_id: str) -> Any:
    value = (issue.custom or {}).get(field_id)
    if value is None or field_id == TEXT_FIELD:
        return value
    return {"value": value, "id": OPTIONS[value]}
