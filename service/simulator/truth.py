"""The dataset in canonical form: what a correct sync must end up storing."""

from __future__ import annotations

from typing import Any

from service.simulator.github_data import (
    STATUS_IN_PROGRESS,
    GhIssue,
    GitHubData,
    points_of,
)
from service.simulator.jira_data import ISSUE_TYPES, JiraData, JiraIssue, status_category


def github_status_category(issue: GhIssue) -> str:
    if issue.state == "open":
        in_progress = issue.item is not None and issue.item.status == STATUS_IN_PROGRESS
        return "in_progress" if in_progress else "todo"
    if issue.is_pr:
        return "done" if issue.merged_at is not None else "cancelled"
    return "cancelled" if issue.state_reason in ("not_planned", "duplicate") else "done"


def github_estimate(issue: GhIssue) -> float | None:
    """Projects v2 `Estimate` wins; a `points:N` label is the fallback (never both are set)."""
    if issue.item is not None and issue.item.estimate is not None:
        return issue.item.estimate
    return points_of(issue)


def github_key(data: GitHubData, issue: GhIssue) -> str:
    return f"{data.org}/{data.repos[issue.repo].name}#{issue.number}"


def github_kind(issue: GhIssue) -> str:
    if issue.is_pr:
        return "pull_request"
    return "epic" if issue.epic else "issue"


def github_row(data: GitHubData, issue: GhIssue) -> dict[str, Any]:
    repo = data.repos[issue.repo]
    return {
        "source": "github",
        "external_id": issue.node_id,
        "key": github_key(data, issue),
        "kind": github_kind(issue),
        "title": issue.title,
        "status_category": github_status_category(issue),
        "parent_key": f"{data.org}/{repo.name}#{issue.parent}"
        if issue.parent is not None
        else None,
        "labels": sorted(issue.label_names),
        "estimate": github_estimate(issue),
        "deleted": issue.deleted,
    }


def jira_row(data: JiraData, issue: JiraIssue) -> dict[str, Any]:
    parent = data.issues[issue.parent] if issue.parent is not None else None
    return {
        "source": "jira",
        "external_id": str(issue.id),
        "key": data.key_of(issue),
        "kind": ISSUE_TYPES[issue.type].kind,
        "title": issue.summary,
        "status_category": status_category(issue),
        "parent_key": data.key_of(parent) if parent is not None else None,
        "labels": sorted(issue.label_names),
        "estimate": issue.points,
        "deleted": issue.deleted,
    }


def truth(
    github: GitHubData, jira: JiraData, include_deleted: bool = False
) -> list[dict[str, Any]]:
    rows = [
        github_row(github, issue)
        for repo in github.repos
        for issue in repo.issues
        if include_deleted or not issue.deleted
    ]
    rows += [
        jira_row(jira, issue)
        for issue in sorted(jira.issues.values(), key=lambda i: i.id)
        if include_deleted or not issue.deleted
    ]
    return rows
