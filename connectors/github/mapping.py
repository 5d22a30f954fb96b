"""GitHub issue / pull request JSON → `WorkItemIn`. Pure functions, shared by poll and webhooks.

Identity: an issue's `external_id` is its `node_id`. A pull request is listed by the issues API
with the node id of its *issue*, while webhooks carry the node id of the *pull request*, and
neither payload holds the other; so both paths give a pull request the deterministic id
`pr:<owner>/<repo>#<number>` (repository name lower-cased, as GitHub names are
case-insensitive). A renamed repository therefore yields new pull request ids (and new keys).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.enums import ItemKind, StatusCategory
from schemas.work_item import WorkItemIn

DEFAULT_ESTIMATE_LABEL_PATTERN = r"^(?:points|sp|estimate):\s*(\d+(?:\.\d+)?)$"
DEFAULT_PROJECT_STATUS_MAP = {
    "todo": StatusCategory.todo,
    "backlog": StatusCategory.todo,
    "in progress": StatusCategory.in_progress,
    "in review": StatusCategory.in_progress,
    "done": StatusCategory.done,
}
_CLOSED_CATEGORY = {
    "completed": StatusCategory.done,
    "not_planned": StatusCategory.cancelled,
    "duplicate": StatusCategory.cancelled,
}
_REPO_NAME = re.compile(r"^[^/\s]+/[^/\s]+$")
_TYPE_KINDS = {"epic": ItemKind.epic, "bug": ItemKind.bug, "task": ItemKind.task}


@dataclass(frozen=True)
class GitHubSettings:
    """Per-source mapping settings (the source's `settings` dict, parsed once)."""

    epic_labels: frozenset[str] = frozenset()
    in_progress_labels: frozenset[str] = frozenset()
    project_status_map: Mapping[str, StatusCategory] = field(
        default_factory=lambda: dict(DEFAULT_PROJECT_STATUS_MAP)
    )
    project_estimate_field: str = "Estimate"
    estimate_label_pattern: re.Pattern[str] = re.compile(
        DEFAULT_ESTIMATE_LABEL_PATTERN, re.IGNORECASE
    )

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any] | None) -> GitHubSettings:
        settings = settings or {}
        status_map = dict(DEFAULT_PROJECT_STATUS_MAP)
        for name, category in (settings.get("project_status_map") or {}).items():
            status_map[str(name).casefold()] = StatusCategory(category)
        return cls(
            epic_labels=_folded(settings.get("epic_labels")),
            in_progress_labels=_folded(settings.get("in_progress_labels")),
            project_status_map=status_map,
            project_estimate_field=settings.get("project_estimate_field") or "Estimate",
            estimate_label_pattern=re.compile(
                settings.get("estimate_label_pattern") or DEFAULT_ESTIMATE_LABEL_PATTERN,
                re.IGNORECASE,
            ),
        )


def _folded(values: Any) -> frozenset[str]:
    return frozenset(str(v).casefold() for v in values or ())


@dataclass(frozen=True)
class ProjectValues:
    """Projects v2 field values for one issue or pull request (merged over all projects)."""

    status: str | None = None
    estimate: float | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def repo_from_api_url(url: str | None) -> str | None:
    """`owner/repo` from an API URL such as `https://HOST/api/v3/repos/o/r[/issues/1]`."""
    if not url or "/repos/" not in url:
        return None
    parts = url.split("/repos/", 1)[1].split("/")
    return f"{parts[0]}/{parts[1]}" if len(parts) >= 2 else None


def parent_key_from_url(url: str | None) -> str | None:
    """`owner/repo#N` from `parent_issue_url` (`.../repos/o/r/issues/N`); no request needed."""
    repo = repo_from_api_url(url)
    if repo is None or url is None:
        return None
    tail = url.rstrip("/").rsplit("/", 2)
    if len(tail) == 3 and tail[1] == "issues" and tail[2].isdigit():
        return f"{repo}#{tail[2]}"
    return None


def item_key(repo: str, number: int) -> str:
    return f"{repo}#{number}"


def project_lookup_key(repo: str, number: int) -> str:
    """The key project values are stored under: the same for issues and pull requests."""
    return f"{repo.casefold()}#{number}"


def is_pull_request(issue: Mapping[str, Any]) -> bool:
    return bool(issue.get("pull_request"))


def issue_number(issue: Mapping[str, Any]) -> int:
    """The issue number, refused (ValueError) unless it is a positive integer."""
    number = issue.get("number")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"issue {_shown(issue.get('node_id'))} has no valid number")
    return number


def external_id_for(issue: Mapping[str, Any], repo: str) -> str:
    """The item's identity; a missing or non-text node id is refused (ValueError), never
    stringified, so two broken payloads cannot collapse into one item called `None`."""
    if is_pull_request(issue):
        return f"pr:{project_lookup_key(checked_repo(repo), issue_number(issue))}"
    node_id = issue.get("node_id")
    if not isinstance(node_id, str) or not node_id.strip():
        raise ValueError(f"issue {_shown(node_id)} has no valid node_id")
    return node_id


def checked_repo(repo: Any) -> str:
    if not isinstance(repo, str) or not _REPO_NAME.match(repo):
        raise ValueError(f"repository name {_shown(repo)} is not owner/repo")
    return repo


def _shown(value: Any) -> str:
    return repr(value)[:60]


def _kind(issue: Mapping[str, Any], labels: list[str], settings: GitHubSettings) -> str:
    if is_pull_request(issue):
        return ItemKind.pull_request
    type_name = ((issue.get("type") or {}).get("name") or "").casefold()
    if type_name in _TYPE_KINDS:
        return _TYPE_KINDS[type_name]
    if settings.epic_labels.intersection(label.casefold() for label in labels):
        return ItemKind.epic
    return ItemKind.issue


def _status(
    issue: Mapping[str, Any],
    labels: list[str],
    settings: GitHubSettings,
    project: ProjectValues | None,
) -> tuple[str, StatusCategory]:
    if is_pull_request(issue):
        if (issue.get("pull_request") or {}).get("merged_at"):
            return "merged", StatusCategory.done
        if issue.get("state") == "closed":
            return "closed:unmerged", StatusCategory.cancelled
    elif issue.get("state") == "closed":
        reason = issue.get("state_reason") or "completed"
        return f"closed:{reason}", _CLOSED_CATEGORY.get(reason, StatusCategory.done)
    # Open: the board's Status column is the team's own word on progress, so it wins.
    if project is not None and project.status:
        category = settings.project_status_map.get(project.status.casefold())
        if category is not None:
            return "open", category
    if settings.in_progress_labels.intersection(label.casefold() for label in labels):
        return "open", StatusCategory.in_progress
    return "open", StatusCategory.todo


def _estimate(
    labels: list[str], settings: GitHubSettings, project: ProjectValues | None
) -> float | None:
    if project is not None and project.estimate is not None:
        return project.estimate
    for label in labels:
        match = settings.estimate_label_pattern.match(label.strip())
        if match:
            return float(match.group(1))
    return None


def map_issue(
    issue: Mapping[str, Any],
    settings: GitHubSettings,
    *,
    repo: str | None = None,
    project: ProjectValues | None = None,
    raw: Mapping[str, Any] | None = None,
) -> WorkItemIn:
    """Map one issue object (REST list item or webhook `issue`) to a work item.

    Args:
        issue: the GitHub issue JSON (pull requests carry `pull_request`).
        settings: parsed per-source settings.
        repo: `owner/repo`; derived from `repository_url` when not given.
        project: Projects v2 values for this item, if any.
        raw: what to keep as `raw` (defaults to `issue`).

    Raises:
        ValueError: the object has no repository to derive the key from.
    """
    repo = repo or repo_from_api_url(issue.get("repository_url"))
    if repo is None:
        raise ValueError(f"issue {_shown(issue.get('node_id'))} names no repository")
    repo = checked_repo(repo)
    labels = [label["name"] for label in issue.get("labels") or [] if label.get("name")]
    status, category = _status(issue, labels, settings, project)
    assignee = issue.get("assignee") or next(iter(issue.get("assignees") or []), None)
    closed_at = parse_time(issue.get("closed_at"))
    updated_at = parse_time(issue.get("updated_at")) or parse_time(issue.get("created_at"))
    if updated_at is None:
        raise ValueError(f"issue {issue.get('node_id')} has no updated_at")
    return WorkItemIn(
        external_id=external_id_for(issue, repo),
        key=item_key(repo, issue_number(issue)),
        kind=_kind(issue, labels, settings),
        title=issue.get("title") or "",
        status=status,
        status_category=category,
        parent_key=parent_key_from_url(issue.get("parent_issue_url")),
        project=repo,
        issue_type=(issue.get("type") or {}).get("name"),
        labels=labels,
        milestone=(issue.get("milestone") or {}).get("title"),
        assignee=assignee.get("login") if assignee else None,
        estimate=_estimate(labels, settings, project),
        url=issue.get("html_url"),
        upstream_created_at=parse_time(issue.get("created_at")),
        upstream_updated_at=updated_at,
        resolved_at=closed_at if issue.get("state") == "closed" else None,
        raw=dict(raw if raw is not None else issue),
    )


def pull_request_as_issue(pr: Mapping[str, Any]) -> dict[str, Any]:
    """A webhook `pull_request` object reshaped like its entry in the issues list."""
    return {
        "node_id": pr.get("node_id"),
        "number": pr["number"],
        "title": pr.get("title"),
        "state": pr.get("state"),
        "labels": pr.get("labels") or [],
        "assignee": pr.get("assignee"),
        "assignees": pr.get("assignees") or [],
        "milestone": pr.get("milestone"),
        "created_at": pr.get("created_at"),
        "updated_at": pr.get("updated_at"),
        "closed_at": pr.get("closed_at"),
        "html_url": pr.get("html_url"),
        "repository_url": repo_api_url_of_pr(pr),
        "pull_request": {
            "url": pr.get("url"),
            "html_url": pr.get("html_url"),
            "merged_at": pr.get("merged_at"),
        },
    }


def repo_api_url_of_pr(pr: Mapping[str, Any]) -> str | None:
    base_repo = (pr.get("base") or {}).get("repo") or {}
    return base_repo.get("url") or pr.get("issue_url")
