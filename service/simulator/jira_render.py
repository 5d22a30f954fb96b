"""Jira issue JSON (WIRE_FORMATS §4.3): v3 for REST, v2 for webhooks."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.simulator import jira_custom_fields as custom_fields
from service.simulator.jira_data import (
    EPIC,
    ISSUE_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUS_CATEGORIES,
    STATUSES,
    JiraData,
    JiraIssue,
)
from service.simulator.words import JIRA_COMPONENTS, JIRA_USERS

STORY_POINTS_FIELD = "customfield_10016"
SPRINT_FIELD = "customfield_10020"
EPIC_LINK_FIELD = "customfield_10014"
RANK_FIELD = "customfield_10019"
SYSTEM_FIELDS = (
    "summary",
    "description",
    "status",
    "issuetype",
    "parent",
    "labels",
    "components",
    "fixVersions",
    "assignee",
    "reporter",
    "creator",
    "project",
    "priority",
    "created",
    "updated",
    "resolutiondate",
    "resolution",
    "statuscategorychangedate",
    "subtasks",
    "issuelinks",
)
CUSTOM_FIELDS = (STORY_POINTS_FIELD, SPRINT_FIELD, EPIC_LINK_FIELD, RANK_FIELD)
ALL_FIELDS = frozenset(SYSTEM_FIELDS + CUSTOM_FIELDS)


def jira_time(ms: int | None, tz: ZoneInfo) -> str | None:
    """`2022-12-08T02:22:18.889-0800`: milliseconds and a colon-less offset, in the user's zone."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}" + moment.strftime("%z")


@functools.cache
def account_id(index: int) -> str:
    return "712020:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"jira-user:{JIRA_USERS[index]}"))


def jira_user(site: str, api: str, index: int, tz_name: str) -> dict[str, Any]:
    aid = account_id(index)
    name = JIRA_USERS[index]
    avatar = f"https://avatar-management.example/initials/{name[:1]}{name.split()[-1][:1]}.png"
    return {
        "self": f"{site}/rest/api/{api}/user?accountId={aid.replace(':', '%3A')}",
        "accountId": aid,
        "avatarUrls": {
            size: f"{avatar}?size={size}" for size in ("48x48", "24x24", "16x16", "32x32")
        },
        "displayName": name,
        "active": True,
        "timeZone": tz_name,
        "accountType": "atlassian",
    }


def status(site: str, api: str, index: int) -> dict[str, Any]:
    st = STATUSES[index]
    cat_id, color, cat_name = STATUS_CATEGORIES[st.category]
    return {
        "self": f"{site}/rest/api/{api}/status/{st.id}",
        "description": "",
        "iconUrl": f"{site}/",
        "name": st.name,
        "id": st.id,
        "statusCategory": {
            "self": f"{site}/rest/api/{api}/statuscategory/{cat_id}",
            "id": cat_id,
            "key": st.category,
            "colorName": color,
            "name": cat_name,
        },
    }


def issuetype(site: str, api: str, index: int) -> dict[str, Any]:
    it = ISSUE_TYPES[index]
    return {
        "self": f"{site}/rest/api/{api}/issuetype/{it.id}",
        "id": it.id,
        "description": it.description,
        "iconUrl": f"{site}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{it.id}",
        "name": it.name,
        "subtask": it.subtask,
        "avatarId": 10300 + index,
        "hierarchyLevel": it.hierarchy_level,
    }


def priority(site: str, api: str, index: int) -> dict[str, Any]:
    pid, name = PRIORITIES[index]
    return {
        "self": f"{site}/rest/api/{api}/priority/{pid}",
        "iconUrl": f"{site}/images/icons/priorities/{name.lower()}.svg",
        "name": name,
        "id": pid,
    }


def project(site: str, api: str, data: JiraData, index: int) -> dict[str, Any]:
    p = data.projects[index]
    return {
        "self": f"{site}/rest/api/{api}/project/{p.id}",
        "id": str(p.id),
        "key": p.key,
        "name": p.name,
        "projectTypeKey": "software",
        "simplified": False,
        "avatarUrls": {
            "48x48": f"{site}/rest/api/{api}/universal_avatar/view/type/project/avatar/10400"
        },
    }


def sprint_json(data: JiraData, issue: JiraIssue) -> list[dict[str, Any]] | None:
    if not issue.sprints:
        return None
    by_id = {s.id: s for p in data.projects for s in p.sprints}
    out = []
    for sid in issue.sprints:
        s = by_id[sid]
        entry: dict[str, Any] = {
            "id": s.id,
            "name": s.name,
            "state": s.state,
            "boardId": s.board_id,
            "goal": "",
            "startDate": _utc(s.start),
            "endDate": _utc(s.end),
        }
        if s.state == "closed":
            entry["completeDate"] = _utc(s.end)
        out.append(entry)
    return out


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def description(issue: JiraIssue, key: str, v2: bool) -> Any:
    text = f"{issue.summary}. Tracked as {key}."
    if v2:
        return text
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def issue_json(
    site: str,
    data: JiraData,
    issue: JiraIssue,
    fields: frozenset[str],
    tz: ZoneInfo,
    v2: bool = False,
) -> dict[str, Any]:
    """One issue. `fields` is already resolved (`*all` expanded); id-only gives `{"id"}`."""
    if fields <= {"id"}:
        return {"id": str(issue.id)}
    api = "2" if v2 else "3"
    key = data.key_of(issue)
    out: dict[str, Any] = {
        "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
        "id": str(issue.id),
        # Real webhook bodies carry this odd `/rest/api/2/<id>` form (WIRE_FORMATS §5.1).
        "self": f"{site}/rest/api/2/{issue.id}" if v2 else f"{site}/rest/api/3/issue/{issue.id}",
        "key": key,
    }
    wanted = fields - {"id", "key"}
    if not wanted:
        return out
    out["fields"] = {
        name: _field(site, api, data, issue, key, name, tz, v2) for name in sorted(wanted)
    }
    return out


def _parent(site: str, api: str, data: JiraData, parent_id: int) -> dict[str, Any]:
    parent = data.issues[parent_id]
    return {
        "id": str(parent.id),
        "key": data.key_of(parent),
        "self": f"{site}/rest/api/{api}/issue/{parent.id}",
        "fields": {
            "summary": parent.summary,
            "status": status(site, api, parent.status),
            "priority": priority(site, api, parent.priority),
            "issuetype": issuetype(site, api, parent.type),
        },
    }


def _field(
    site: str,
    api: str,
    data: JiraData,
    issue: JiraIssue,
    key: str,
    name: str,
    tz: ZoneInfo,
    v2: bool,
) -> Any:
    tz_name = tz.key
    if name == "summary":
        return issue.summary
    if name == "description":
        return description(issue, key, v2)
    if name == "status":
        return status(site, api, issue.status)
    if name == "issuetype":
        return issuetype(site, api, issue.type)
    if name == "parent":
        return _parent(site, api, data, issue.parent) if issue.parent is not None else None
    if name == "labels":
        return issue.label_names
    if name == "components":
        return [
            {
                "self": f"{site}/rest/api/{api}/component/{10100 + c}",
                "id": str(10100 + c),
                "name": JIRA_COMPONENTS[c],
            }
            for c in issue.components
        ]
    if name == "fixVersions":
        if issue.fix_version is None:
            return []
        vid = 10200 + issue.project * 10 + issue.fix_version
        return [
            {
                "self": f"{site}/rest/api/{api}/version/{vid}",
                "id": str(vid),
                "name": f"{data.projects[issue.project].key} 2025.{issue.fix_version + 1}",
                "archived": False,
                "released": issue.fix_version == 0,
            }
        ]
    if name in ("assignee", "reporter", "creator"):
        who = issue.assignee if name == "assignee" else issue.reporter
        return jira_user(site, api, who, tz_name) if who is not None else None
    if name == "project":
        return project(site, api, data, issue.project)
    if name == "priority":
        return priority(site, api, issue.priority)
    if name in ("created", "updated", "resolutiondate", "statuscategorychangedate"):
        attr = {"resolutiondate": "resolved", "statuscategorychangedate": "status_changed"}
        return jira_time(getattr(issue, attr.get(name, name)), tz)
    if name == "resolution":
        if issue.resolution is None:
            return None
        rid, rname, _ = RESOLUTIONS[issue.resolution]
        return {
            "self": f"{site}/rest/api/{api}/resolution/{rid}",
            "id": rid,
            "name": rname,
            "description": f"Work is resolved as {rname.lower()}.",
        }
    if name == "subtasks":
        return [
            {"id": str(c.id), "key": data.key_of(c), "self": f"{site}/rest/api/{api}/issue/{c.id}"}
            for c in data.live_children(issue.id)
            if ISSUE_TYPES[c.type].subtask
        ]
    if name == "issuelinks":
        return []
    if name == STORY_POINTS_FIELD:
        return issue.points
    if name == SPRINT_FIELD:
        return sprint_json(data, issue)
    if name == EPIC_LINK_FIELD:
        parent = data.issues.get(issue.parent) if issue.parent is not None else None
        return data.key_of(parent) if parent is not None and parent.type == EPIC else None
    if name == RANK_FIELD:
        return f"0|i{issue.id:05x}:"
    if name in custom_fields.NAMES:  # only when asked for by id
        return custom_fields.render(issue, name)
    return None
