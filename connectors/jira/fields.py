"""Custom-field discovery: which per-site field ids hold story points, sprints and epic links.

Jira assigns custom field ids per site, so `GET /rest/api/3/field` is read and candidates are
recognised by `schema.custom`. A per-source setting (`story_points_field`, `sprint_field`,
`epic_link_field`) always wins. When a site has several candidates, project-scoped
(team-managed) fields of projects outside the scope are dropped first; if that still leaves more
than one, the caller may pass `usage` (non-null counts from a small probe search) to decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

STORY_POINTS = "story_points"
SPRINT = "sprint"
EPIC_LINK = "epic_link"
ROLES = (STORY_POINTS, SPRINT, EPIC_LINK)

SETTING_KEYS = {
    STORY_POINTS: "story_points_field",
    SPRINT: "sprint_field",
    EPIC_LINK: "epic_link_field",
}

JSW_STORY_POINTS = "com.pyxis.greenhopper.jira:jsw-story-points"
FLOAT_FIELD = "com.atlassian.jira.plugin.system.customfieldtypes:float"
GH_SPRINT = "com.pyxis.greenhopper.jira:gh-sprint"
GH_EPIC_LINK = "com.pyxis.greenhopper.jira:gh-epic-link"

_REASONS = {
    JSW_STORY_POINTS: "schema.custom jsw-story-points",
    FLOAT_FIELD: "number field named Story Points",
    GH_SPRINT: "schema.custom gh-sprint",
    GH_EPIC_LINK: "schema.custom gh-epic-link",
}


@dataclass(frozen=True)
class FieldCandidate:
    id: str
    name: str
    custom_type: str
    project_id: str | None = None

    @property
    def rank(self) -> int:
        # Jira Software writes the jsw-story-points field; a float "Story Points" is older.
        return 0 if self.custom_type != FLOAT_FIELD else 1

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.custom_type}
        if self.project_id:
            data["project_id"] = self.project_id
        return data


@dataclass
class FieldChoice:
    id: str | None
    name: str | None
    reason: str
    candidates: list[FieldCandidate] = field(default_factory=list)
    ambiguous: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "reason": self.reason,
            "candidates": [candidate.as_dict() for candidate in self.candidates],
            "ambiguous": self.ambiguous,
        }


def _role_of(entry: Mapping[str, Any]) -> str | None:
    custom = (entry.get("schema") or {}).get("custom")
    if custom == JSW_STORY_POINTS:
        return STORY_POINTS
    if custom == FLOAT_FIELD and str(entry.get("name", "")).strip().lower() == "story points":
        return STORY_POINTS
    if custom == GH_SPRINT:
        return SPRINT
    if custom == GH_EPIC_LINK:
        return EPIC_LINK
    return None


def find_candidates(fields: Iterable[Mapping[str, Any]]) -> dict[str, list[FieldCandidate]]:
    """Group the `/field` response into candidates per role."""
    found: dict[str, list[FieldCandidate]] = {role: [] for role in ROLES}
    for entry in fields:
        role = _role_of(entry)
        if role is None or not entry.get("id"):
            continue
        project = ((entry.get("scope") or {}).get("project") or {}).get("id")
        found[role].append(
            FieldCandidate(
                id=str(entry["id"]),
                name=str(entry.get("name") or entry["id"]),
                custom_type=str(entry["schema"]["custom"]),
                project_id=str(project) if project is not None else None,
            )
        )
    return found


_CUSTOM = "com.atlassian.jira.plugin.system.customfieldtypes:"
WRITABLE_TYPES = {
    _CUSTOM + "textfield": "text",
    _CUSTOM + "textarea": "text",
    _CUSTOM + "select": "select",
    _CUSTOM + "radiobuttons": "select",
}


def writable_fields(fields: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Custom text and single-select fields (what write-back can set to a title)."""
    found = []
    for entry in fields:
        kind = WRITABLE_TYPES.get(str((entry.get("schema") or {}).get("custom") or ""))
        if kind and entry.get("id"):
            name = str(entry.get("name") or entry["id"])
            found.append({"id": str(entry["id"]), "name": name, "type": kind})
    return sorted(found, key=lambda f: f["id"])


def in_scope(candidates: list[FieldCandidate], project_ids: set[str]) -> list[FieldCandidate]:
    """Drop team-managed fields of other projects; they cannot hold values for ours."""
    if not project_ids:
        return candidates
    kept = [c for c in candidates if c.project_id is None or c.project_id in project_ids]
    return kept or candidates


def needs_probe(candidates: Mapping[str, list[FieldCandidate]], project_ids: set[str]) -> list[str]:
    """Field ids worth probing: those of roles still ambiguous after the scope filter."""
    ids: list[str] = []
    for role_candidates in candidates.values():
        kept = in_scope(role_candidates, project_ids)
        if len(kept) > 1:
            ids.extend(c.id for c in kept)
    return ids


def usage_from_issues(
    issues: Iterable[Mapping[str, Any]], field_ids: Iterable[str]
) -> dict[str, int]:
    ids = list(field_ids)
    usage = dict.fromkeys(ids, 0)
    for issue in issues:
        values = issue.get("fields") or {}
        for field_id in ids:
            if values.get(field_id) not in (None, [], ""):
                usage[field_id] += 1
    return usage


def project_ids_of(issues: Iterable[Mapping[str, Any]]) -> set[str]:
    ids = set()
    for issue in issues:
        project_id = ((issue.get("fields") or {}).get("project") or {}).get("id")
        if project_id is not None:
            ids.add(str(project_id))
    return ids


def _choose_role(
    role: str,
    candidates: list[FieldCandidate],
    settings: Mapping[str, Any],
    project_ids: set[str],
    usage: Mapping[str, int] | None,
) -> FieldChoice:
    override = settings.get(SETTING_KEYS[role])
    if override:
        named = next((c for c in candidates if c.id == override), None)
        return FieldChoice(
            id=str(override),
            name=named.name if named else None,
            reason=f"setting {SETTING_KEYS[role]}",
            candidates=candidates,
        )
    if not candidates:
        return FieldChoice(id=None, name=None, reason="no candidate field on this site")
    kept = in_scope(candidates, project_ids)
    if len(kept) == 1:
        chosen = kept[0]
        reason = _REASONS[chosen.custom_type]
        if len(candidates) > 1:
            reason += f" (only candidate scoped to project {chosen.project_id})"
        return FieldChoice(chosen.id, chosen.name, reason, candidates)
    ordered = sorted(kept, key=lambda c: (c.project_id is None, c.rank, c.id))
    if usage and any(usage.get(c.id, 0) for c in kept):
        chosen = max(ordered, key=lambda c: usage.get(c.id, 0))
        reason = f"{_REASONS[chosen.custom_type]}; most used in scope ({usage.get(chosen.id, 0)})"
    else:
        chosen = ordered[0]
        reason = f"{_REASONS[chosen.custom_type]}; first of {len(kept)} by preference"
    return FieldChoice(chosen.id, chosen.name, reason, candidates, ambiguous=True)


def choose_fields(
    candidates: Mapping[str, list[FieldCandidate]],
    settings: Mapping[str, Any],
    *,
    project_ids: Iterable[str] = (),
    usage: Mapping[str, int] | None = None,
) -> dict[str, FieldChoice]:
    """The field per role, with the reason; `ambiguous` marks a pick among several candidates."""
    ids = {str(pid) for pid in project_ids}
    return {
        role: _choose_role(role, list(candidates.get(role, [])), settings, ids, usage)
        for role in ROLES
    }


def discover(
    fields: Iterable[Mapping[str, Any]],
    settings: Mapping[str, Any],
    *,
    project_ids: Iterable[str] = (),
    usage: Mapping[str, int] | None = None,
) -> dict[str, FieldChoice]:
    return choose_fields(find_candidates(fields), settings, project_ids=project_ids, usage=usage)


def field_settings(choices: Mapping[str, FieldChoice]) -> dict[str, str]:
    """The settings the service stores on the source so webhooks can map custom fields."""
    return {SETTING_KEYS[role]: choice.id for role, choice in choices.items() if choice.id}
