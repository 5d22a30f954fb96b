"""The mapping-rule form: HTML fields to `RuleCreate` (every condition the API accepts), errors
back to fields, a stored rule back to fields, and what changed between two versions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas.api.rules import RuleConditions, RuleCreate
from schemas.tables import MappingRule
from service.errors import ServiceError

TEXT_CONDITIONS = (
    "project",
    "issue_type",
    "milestone",
    "parent_key",
    "assignee",
    "title_matches",
)
LIST_CONDITIONS = ("labels_any", "labels_all", "components_any")
CHOICE_CONDITIONS = ("source_id", "kind", "status_category")
CONDITION_LABELS = {
    "source_id": "Source",
    "project": "Project or repository",
    "kind": "Kind",
    "issue_type": "Issue type",
    "labels_any": "Any of these labels",
    "labels_all": "All of these labels",
    "components_any": "Any of these components",
    "milestone": "Milestone or fix version",
    "parent_key": "Parent key",
    "include_descendants": "Include descendants",
    "status_category": "Status category",
    "assignee": "Assignee",
    "title_matches": "Title matches",
}
# Every condition of the API has a field here; a new one fails this import until it has one.
assert set(RuleConditions.model_fields) == {
    *TEXT_CONDITIONS,
    *LIST_CONDITIONS,
    *CHOICE_CONDITIONS,
    "include_descendants",
}


class RuleFormInvalid(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def _text(form: Mapping[str, str], name: str) -> str:
    return form.get(name, "").strip()


def _names(value: str) -> list[str]:
    return [w.strip() for w in re.split(r",", value) if w.strip()]


def conditions_of(form: Mapping[str, str]) -> dict[str, Any]:
    conditions: dict[str, Any] = {}
    for name in (*TEXT_CONDITIONS, *CHOICE_CONDITIONS):
        if value := _text(form, name):
            conditions[name] = value
    for name in LIST_CONDITIONS:
        if names := _names(_text(form, name)):
            conditions[name] = names
    if form.get("include_descendants") == "on":
        conditions["include_descendants"] = True
    return conditions


def target_of(value: str) -> dict[str, Any]:
    kind, _, ident = value.partition(":")
    if kind in ("initiative", "key_result") and ident.isdigit():
        return {f"{kind}_id": int(ident)}
    return {}


def rule_of(form: Mapping[str, str]) -> RuleCreate:
    """The rule the form describes, or `RuleFormInvalid` with each field's message."""
    body: dict[str, Any] = {
        "name": _text(form, "name"),
        "enabled": form.get("enabled") == "on",
        "conditions": conditions_of(form),
        "target": target_of(_text(form, "target")),
    }
    if priority := _text(form, "priority"):
        body["priority"] = priority
    try:
        return RuleCreate.model_validate(body)
    except ValidationError as exc:
        raise RuleFormInvalid(field_errors([dict(e) for e in exc.errors()])) from None


def field_errors(errors: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """`conditions.labels_any.0` → `labels_any`; `conditions` alone → the conditions box."""
    found: dict[str, str] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if str(p) != "body"]
        if not loc:
            field = "__all__"
        elif loc[0] == "conditions" and len(loc) > 1:
            field = loc[1]
        elif loc[0] == "target":
            field = "target"
        else:
            field = loc[0]
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        found.setdefault(field, message)
    return found


def service_field_errors(exc: ServiceError) -> dict[str, str]:
    return field_errors(exc.errors) if exc.errors else {"__all__": exc.detail}


def form_values(rule: MappingRule) -> dict[str, str]:
    values = {
        "name": rule.name,
        "priority": str(rule.priority),
        "enabled": "on" if rule.enabled else "",
        "target": f"{rule.target_type}:{rule.target_id}",
    }
    for name, value in rule.conditions.items():
        if name == "include_descendants":
            values[name] = "on" if value else ""
        elif isinstance(value, list):
            values[name] = ", ".join(map(str, value))
        else:
            values[name] = str(value)
    return values


def typed_values(form: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def describe_conditions(conditions: Mapping[str, Any], sources: Mapping[int, str]) -> str:
    parts = []
    for name, value in conditions.items():
        if name == "include_descendants":
            continue
        label = CONDITION_LABELS.get(name, name).lower()
        if name == "source_id":
            value = sources.get(int(value), f"#{value}")
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        if name == "parent_key" and conditions.get("include_descendants"):
            value = f"{value} (and below)"
        parts.append(f"{label}: {value}")
    return "; ".join(parts)


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str
    after: str


def _flat(snapshot: Mapping[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in snapshot.items():
        if key == "conditions" and isinstance(value, Mapping):
            for name, condition in value.items():
                shown = ", ".join(map(str, condition)) if isinstance(condition, list) else condition
                flat[CONDITION_LABELS.get(str(name), str(name))] = str(shown)
        elif key == "target" and isinstance(value, Mapping):
            flat["Target"] = ", ".join(f"{k.removesuffix('_id')} {v}" for k, v in value.items())
        else:
            flat[key.capitalize()] = str(value)
    return flat


def changes_between(
    before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> list[FieldChange]:
    """What a version changed against the one before it (everything, for the first)."""
    old, new = _flat(before or {}), _flat(after)
    return [
        FieldChange(name, old.get(name, ""), new.get(name, ""))
        for name in sorted(old.keys() | new.keys(), key=list({**old, **new}).index)
        if old.get(name) != new.get(name)
    ]
