"""Jira issue JSON → `WorkItemIn`, for both search results (v3) and webhooks (v2 representation).

Pure functions: everything site-specific (custom field ids, cancelled resolutions, site URL)
arrives in a `MappingConfig`, built from the source settings by `config_from_settings`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from connectors.base import FatalUpstreamError
from schemas.enums import ItemKind, StatusCategory
from schemas.work_item import WorkItemIn

DEFAULT_CANCELLED_RESOLUTIONS = ("Won't Do", "Duplicate", "Cannot Reproduce")

# Standard (hierarchy level 0) types keep their own kind; any other level-0 type ("Improvement",
# "Spike", "Change Request", ...) is task-like. `issue_type` keeps the raw name for rules.
_LEVEL_ZERO_KINDS = {"story": ItemKind.story, "bug": ItemKind.bug, "task": ItemKind.task}

_CATEGORIES = {
    "new": StatusCategory.todo,
    "undefined": StatusCategory.todo,
    "indeterminate": StatusCategory.in_progress,
    "done": StatusCategory.done,
}

# Sprints in a field value, best first: the running one, then the next planned, then the past.
_SPRINT_STATE_RANK = {"active": 2, "future": 1, "closed": 0}
# Old webhook payloads serialise sprints as "com.atlassian.greenhopper...Sprint@1a2b[id=1,...]".
_LEGACY_SPRINT = re.compile(r"(\w+)=([^,\]]*)")

# Fields every search asks for; discovered custom fields are appended.
BASE_FIELDS = (
    "summary",
    "status",
    "issuetype",
    "project",
    "parent",
    "labels",
    "components",
    "fixVersions",
    "assignee",
    "resolution",
    "resolutiondate",
    "created",
    "updated",
)


@dataclass(frozen=True)
class MappingConfig:
    story_points_field: str | None = None
    sprint_field: str | None = None
    epic_link_field: str | None = None
    cancelled_resolutions: frozenset[str] = frozenset(
        r.casefold() for r in DEFAULT_CANCELLED_RESOLUTIONS
    )
    site_url: str | None = None

    def custom_fields(self) -> list[str]:
        ids = (self.story_points_field, self.sprint_field, self.epic_link_field)
        return [field_id for field_id in ids if field_id]


def site_origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def config_from_settings(
    settings: Mapping[str, Any], *, site_url: str | None = None
) -> MappingConfig:
    """Settings keys: story_points_field, sprint_field, epic_link_field, cancelled_resolutions,
    site_url (the latter wins over the `site_url` argument)."""
    resolutions = settings.get("cancelled_resolutions")
    if resolutions is None:
        resolutions = DEFAULT_CANCELLED_RESOLUTIONS
    elif isinstance(resolutions, str):
        resolutions = [part for part in resolutions.split(",") if part.strip()]
    return MappingConfig(
        story_points_field=settings.get("story_points_field") or None,
        sprint_field=settings.get("sprint_field") or None,
        epic_link_field=settings.get("epic_link_field") or None,
        cancelled_resolutions=frozenset(str(r).strip().casefold() for r in resolutions),
        site_url=(settings.get("site_url") or site_url or None),
    )


def parse_jira_datetime(value: Any) -> datetime | None:
    """`2022-12-08T02:22:18.889-0800` (offset without a colon) → aware UTC."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def item_kind(issuetype: Mapping[str, Any]) -> str:
    name = str(issuetype.get("name") or "").strip().casefold()
    level = issuetype.get("hierarchyLevel")
    if not isinstance(level, int):
        # Payloads without hierarchyLevel (older v2 shapes): fall back to the subtask flag/name.
        level = -1 if issuetype.get("subtask") else 1 if name == "epic" else 0
    if level < 0:
        return ItemKind.subtask.value
    if level == 0:
        return _LEVEL_ZERO_KINDS.get(name, ItemKind.task).value
    if level == 1:
        return ItemKind.epic.value
    return ItemKind.portfolio.value


def status_category(fields: Mapping[str, Any], cancelled: frozenset[str]) -> StatusCategory:
    category_key = ((fields.get("status") or {}).get("statusCategory") or {}).get("key")
    category = _CATEGORIES.get(str(category_key), StatusCategory.todo)
    resolution = (fields.get("resolution") or {}).get("name")
    # Only a done status counts: workflows that reopen without clearing the resolution would
    # otherwise report active work as cancelled.
    if category is StatusCategory.done and resolution and resolution.casefold() in cancelled:
        return StatusCategory.cancelled
    return category


def _sprint_entries(value: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, Mapping):
            entries.append(dict(entry))
        elif isinstance(entry, str) and "[" in entry:
            entries.append(dict(_LEGACY_SPRINT.findall(entry.split("[", 1)[1])))
    return entries


def current_sprint(value: Any) -> str | None:
    """The active sprint, else the latest by state (future over closed), then start date and id."""

    def order(entry: Mapping[str, Any]) -> tuple[int, str, int]:
        state = str(entry.get("state") or "").lower()
        raw_id = str(entry.get("id") or "")
        sprint_id = int(raw_id) if raw_id.isdigit() else 0
        return (_SPRINT_STATE_RANK.get(state, -1), str(entry.get("startDate") or ""), sprint_id)

    entries = [entry for entry in _sprint_entries(value) if entry.get("name")]
    if not entries:
        return None
    return str(max(entries, key=order)["name"])


def _story_points(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _names(values: Any) -> list[str]:
    return [str(v["name"]) for v in values or [] if isinstance(v, Mapping) and v.get("name")]


def _parent(fields: Mapping[str, Any], config: MappingConfig) -> tuple[str | None, str | None]:
    parent = fields.get("parent")
    if isinstance(parent, Mapping) and (parent.get("id") or parent.get("key")):
        parent_id = parent.get("id")
        return (str(parent_id) if parent_id else None, parent.get("key") or None)
    if config.epic_link_field:
        # The deprecated Epic Link field only ever carried the epic's key.
        epic_key = fields.get(config.epic_link_field)
        if isinstance(epic_key, str) and epic_key:
            return None, epic_key
    return None, None


def browse_url(issue: Mapping[str, Any], key: str, config: MappingConfig) -> str | None:
    site = config.site_url or site_origin(issue.get("self"))
    return f"{site.rstrip('/')}/browse/{key}" if site else None


def issue_identity(issue: Mapping[str, Any]) -> tuple[str, str | None]:
    """`(id, key)` of an issue; an id or key that is not text (or a positive number, for the
    id) is refused with FatalUpstreamError rather than stringified into a bogus identity."""
    issue_id, key = issue.get("id"), issue.get("key")
    if isinstance(issue_id, int) and not isinstance(issue_id, bool) and issue_id > 0:
        issue_id = str(issue_id)
    if not isinstance(issue_id, str) or not issue_id.strip():
        raise FatalUpstreamError(f"Jira issue {_shown(key)} has no valid id ({_shown(issue_id)})")
    if key is not None and (not isinstance(key, str) or not key.strip()):
        raise FatalUpstreamError(f"Jira issue {issue_id} has no valid key ({_shown(key)})")
    return issue_id, key


def _text(value: Any, what: str, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FatalUpstreamError(f"Jira issue {key}: {what} is {type(value).__name__}, not text")
    return value


def _labels(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
        raise FatalUpstreamError(f"Jira issue {key}: labels are not a list of text")
    return value


def _shown(value: Any) -> str:
    return repr(value)[:60]


def map_issue(issue: Mapping[str, Any], config: MappingConfig) -> WorkItemIn:
    """Map one issue. Raises FatalUpstreamError when id, key or `updated` is missing or when
    a text field (summary, status, labels) holds something else."""
    fields: Mapping[str, Any] = issue.get("fields") or {}
    issue_id, key = issue_identity(issue)
    updated = parse_jira_datetime(fields.get("updated"))
    if not key or updated is None:
        raise FatalUpstreamError(f"Jira issue {issue_id!r} lacks id, key or updated")
    issuetype: Mapping[str, Any] = fields.get("issuetype") or {}
    assignee: Mapping[str, Any] = fields.get("assignee") or {}
    parent_id, parent_key = _parent(fields, config)
    return WorkItemIn(
        external_id=str(issue_id),
        key=str(key),
        kind=item_kind(issuetype),
        title=_text(fields.get("summary"), "summary", key),
        status=_text((fields.get("status") or {}).get("name"), "status name", key),
        status_category=status_category(fields, config.cancelled_resolutions),
        parent_external_id=parent_id,
        parent_key=parent_key,
        project=(fields.get("project") or {}).get("key"),
        issue_type=issuetype.get("name"),
        labels=_labels(fields.get("labels"), key),
        components=_names(fields.get("components")),
        fix_versions=_names(fields.get("fixVersions")),
        sprint=current_sprint(fields.get(config.sprint_field)) if config.sprint_field else None,
        assignee=assignee.get("accountId"),
        assignee_name=assignee.get("displayName"),
        estimate=(
            _story_points(fields.get(config.story_points_field))
            if config.story_points_field
            else None
        ),
        url=browse_url(issue, key, config),
        upstream_created_at=parse_jira_datetime(fields.get("created")),
        upstream_updated_at=updated,
        resolved_at=parse_jira_datetime(fields.get("resolutiondate")),
        raw=dict(issue),
    )
