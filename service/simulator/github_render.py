"""GitHub REST JSON for the compact dataset objects (WIRE_FORMATS §1.4 shapes)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from service.simulator.github_data import (
    LABEL_NAMES,
    GhIssue,
    GitHubData,
    Milestone,
    Repo,
    b64id,
)
from service.simulator.words import GITHUB_LABELS, GITHUB_USERS

HTML_BASE = "https://github.com"
EPIC_TYPE_ID = 2_810_001


def iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(base: str, index: int) -> dict[str, Any]:
    login = GITHUB_USERS[index]
    uid = 583_231 + index
    return {
        "login": login,
        "id": uid,
        "node_id": "MDQ6VXNlcj" + b64id(uid),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "",
        "url": f"{base}/users/{login}",
        "html_url": f"{HTML_BASE}/{login}",
        "type": "User",
        "user_view_type": "public",
        "site_admin": False,
    }


def organization(base: str, data: GitHubData) -> dict[str, Any]:
    return {
        "login": data.org,
        "id": data.org_id,
        "node_id": "MDEyOk9yZ2FuaXphdGlvbj" + b64id(data.org_id),
        "url": f"{base}/orgs/{data.org}",
        "repos_url": f"{base}/orgs/{data.org}/repos",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{data.org_id}?v=4",
        "description": "Simulated organization",
    }


def label(base: str, data: GitHubData, repo: Repo, index: int) -> dict[str, Any]:
    name = LABEL_NAMES[index]
    color, description = "ededed", None
    if index < len(GITHUB_LABELS):
        _, color, description = GITHUB_LABELS[index]
    lid = 5_000_000_000 + repo.index * 1000 + index
    return {
        "id": lid,
        "node_id": "LA_kwDO" + b64id(lid),
        "url": f"{base}/repos/{data.org}/{repo.name}/labels/{name.replace(' ', '%20')}",
        "name": name,
        "color": color,
        "default": name in ("bug", "enhancement", "documentation", "good first issue"),
        "description": description,
    }


def custom_label(base: str, data: GitHubData, repo: Repo, name: str) -> dict[str, Any]:
    lid = (
        6_000_000_000
        + repo.index * 10_000_000
        + int(hashlib.sha256(name.encode()).hexdigest()[:6], 16)
    )
    return {
        "id": lid,
        "node_id": "LA_kwDO" + b64id(lid),
        "url": f"{base}/repos/{data.org}/{repo.name}/labels/{quote(name, safe='')}",
        "name": name,
        "color": repo.custom_labels.get(name, "ededed"),
        "default": False,
        "description": None,
    }


def milestone(
    base: str, data: GitHubData, repo: Repo, m: Milestone, counts: tuple[int, int] | None = None
) -> dict[str, Any]:
    open_count, closed_count = counts if counts is not None else (0, 0)
    prefix = f"{base}/repos/{data.org}/{repo.name}/milestones/{m.number}"
    return {
        "url": prefix,
        "html_url": f"{HTML_BASE}/{data.org}/{repo.name}/milestone/{m.number}",
        "labels_url": f"{prefix}/labels",
        "id": m.id,
        "node_id": "MI_kwDO" + b64id(m.id),
        "number": m.number,
        "title": m.title,
        "description": f"Release {m.title}",
        "creator": user(base, 0),
        "open_issues": open_count,
        "closed_issues": closed_count,
        "state": m.state,
        "created_at": iso(m.created),
        "updated_at": iso(m.created),
        "due_on": iso(m.due_on),
        "closed_at": iso(m.due_on) if m.state == "closed" else None,
    }


def epic_type(base: str) -> dict[str, Any]:
    return {
        "id": EPIC_TYPE_ID,
        "node_id": "IT_kwDO" + b64id(EPIC_TYPE_ID),
        "name": "Epic",
        "description": "A large body of work broken into sub-issues",
        "color": "purple",
        "created_at": "2024-10-01T08:00:00Z",
        "updated_at": "2024-10-01T08:00:00Z",
        "is_enabled": True,
    }


def sub_issues_summary(repo: Repo, issue: GhIssue) -> dict[str, int]:
    children = [repo.issues[n - 1] for n in repo.children.get(issue.number, ())]
    live = [c for c in children if not c.deleted]
    completed = sum(1 for c in live if c.state == "closed")
    return {
        "total": len(live),
        "completed": completed,
        "percent_completed": completed * 100 // len(live) if live else 0,
    }


def issue(base: str, data: GitHubData, issue: GhIssue) -> dict[str, Any]:
    repo = data.repos[issue.repo]
    repo_url = f"{base}/repos/{data.org}/{repo.name}"
    url = f"{repo_url}/issues/{issue.number}"
    html = (
        f"{HTML_BASE}/{data.org}/{repo.name}/{'pull' if issue.is_pr else 'issues'}/{issue.number}"
    )
    assignee = user(base, issue.assignee) if issue.assignee is not None else None
    out: dict[str, Any] = {
        "url": url,
        "repository_url": repo_url,
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": html,
        "id": issue.id,
        "node_id": issue.node_id,
        "number": issue.number,
        "title": issue.title,
        "user": user(base, issue.author),
        "labels": [label(base, data, repo, i) for i in issue.labels]
        + [custom_label(base, data, repo, name) for name in issue.extra_labels],
        "state": issue.state,
        "locked": False,
        "assignee": assignee,
        "assignees": [assignee] if assignee is not None else [],
        "milestone": (
            milestone(base, data, repo, repo.milestones[issue.milestone - 1])
            if issue.milestone is not None
            else None
        ),
        "comments": issue.id % 7,
        "created_at": iso(issue.created),
        "updated_at": iso(issue.updated),
        "closed_at": iso(issue.closed),
        "author_association": "MEMBER",
        "type": epic_type(base) if issue.epic else None,
        "active_lock_reason": None,
        "sub_issues_summary": sub_issues_summary(repo, issue),
        "issue_dependencies_summary": {
            "blocked_by": 0,
            "total_blocked_by": 0,
            "blocking": 0,
            "total_blocking": 0,
        },
        "body": f"Tracking {issue.title.lower()}.\n\n- [ ] investigate\n- [ ] ship",
        "closed_by": user(base, issue.author) if issue.state == "closed" else None,
        "reactions": {
            "url": f"{url}/reactions",
            "total_count": 0,
            "+1": 0,
            "-1": 0,
            "laugh": 0,
            "hooray": 0,
            "confused": 0,
            "heart": 0,
            "rocket": 0,
            "eyes": 0,
        },
        "timeline_url": f"{url}/timeline",
        "performed_via_github_app": None,
        "state_reason": issue.state_reason,
        "parent_issue_url": (
            f"{repo_url}/issues/{issue.parent}" if issue.parent is not None else None
        ),
    }
    if issue.is_pr:
        out["draft"] = False
        out["pull_request"] = {
            "url": f"{repo_url}/pulls/{issue.number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": iso(issue.merged_at),
        }
    return out


def repository(base: str, data: GitHubData, repo: Repo) -> dict[str, Any]:
    url = f"{base}/repos/{data.org}/{repo.name}"
    created = iso(1_600_000_000 + repo.index * 86_400)
    open_issues = sum(1 for i in repo.issues if not i.deleted and i.state == "open")
    return {
        "id": repo.id,
        "node_id": repo.node_id,
        "name": repo.name,
        "full_name": f"{data.org}/{repo.name}",
        "private": True,
        "owner": {**organization(base, data), "type": "Organization", "site_admin": False},
        "html_url": f"{HTML_BASE}/{data.org}/{repo.name}",
        "description": f"The {repo.name} codebase",
        "fork": False,
        "url": url,
        "issues_url": f"{url}/issues{{/number}}",
        "pulls_url": f"{url}/pulls{{/number}}",
        "milestones_url": f"{url}/milestones{{/number}}",
        "labels_url": f"{url}/labels{{/name}}",
        "created_at": created,
        "updated_at": created,
        "pushed_at": created,
        "default_branch": "main",
        "has_issues": True,
        "has_projects": True,
        "archived": False,
        "disabled": False,
        "visibility": "private",
        "open_issues_count": open_issues,
        "open_issues": open_issues,
        "permissions": {
            "admin": False,
            "maintain": False,
            "push": True,
            "triage": True,
            "pull": True,
        },
    }
