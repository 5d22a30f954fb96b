from datetime import UTC, datetime

import pytest

from connectors.github.mapping import (
    GitHubSettings,
    ProjectValues,
    map_issue,
    parent_key_from_url,
    repo_from_api_url,
)
from schemas.enums import StatusCategory

from .fakes import issue

WHEN = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
DEFAULTS = GitHubSettings.from_dict({})


def make(**extra):
    return issue("octo/repo", 7, WHEN, **extra)


def test_open_issue_maps_identity_and_fields():
    item = map_issue(
        make(
            labels=[{"name": "bug"}, {"name": "points: 3"}],
            assignee={"login": "mona"},
            assignees=[{"login": "mona"}, {"login": "hubot"}],
            milestone={"title": "v1.0"},
        ),
        DEFAULTS,
    )
    assert item.external_id == "I_octo_repo_7"
    assert item.key == "octo/repo#7"
    assert item.project == "octo/repo"
    assert (item.kind, item.status, item.status_category) == ("issue", "open", "todo")
    assert item.labels == ["bug", "points: 3"]
    assert item.assignee == "mona"
    assert item.milestone == "v1.0"
    assert item.estimate == 3.0
    assert item.url == "https://github.com/octo/repo/issues/7"
    assert item.upstream_updated_at == WHEN
    assert item.upstream_updated_at.tzinfo is not None
    assert item.resolved_at is None


@pytest.mark.parametrize(
    ("reason", "status", "category"),
    [
        ("completed", "closed:completed", "done"),
        (None, "closed:completed", "done"),
        ("not_planned", "closed:not_planned", "cancelled"),
        ("duplicate", "closed:duplicate", "cancelled"),
    ],
)
def test_closed_issue_status_from_state_reason(reason, status, category):
    item = map_issue(
        make(state="closed", state_reason=reason, closed_at="2024-03-02T00:00:00Z"), DEFAULTS
    )
    assert (item.status, item.status_category) == (status, category)
    assert item.resolved_at == datetime(2024, 3, 2, tzinfo=UTC)


def test_pull_requests_use_repo_number_identity_and_merge_state():
    merged = map_issue(
        make(state="closed", pull_request={"url": "x", "merged_at": "2024-03-02T00:00:00Z"}),
        DEFAULTS,
    )
    unmerged = map_issue(
        make(state="closed", pull_request={"url": "x", "merged_at": None}), DEFAULTS
    )
    open_pr = map_issue(make(pull_request={"url": "x"}), DEFAULTS)
    assert merged.external_id == "pr:octo/repo#7"
    assert merged.kind == "pull_request"
    assert (merged.status, merged.status_category) == ("merged", "done")
    assert (unmerged.status, unmerged.status_category) == ("closed:unmerged", "cancelled")
    assert (open_pr.status, open_pr.status_category) == ("open", "todo")


@pytest.mark.parametrize(
    ("type_name", "labels", "kind"),
    [
        ("Epic", [], "epic"),
        ("Bug", [], "bug"),
        ("Task", [], "task"),
        ("Feature", [], "issue"),
        (None, [{"name": "Initiative"}], "epic"),
        (None, [{"name": "other"}], "issue"),
    ],
)
def test_kind_from_issue_type_or_epic_labels(type_name, labels, kind):
    settings = GitHubSettings.from_dict({"epic_labels": ["initiative"]})
    item = map_issue(make(type={"name": type_name} if type_name else None, labels=labels), settings)
    assert item.kind == kind
    assert item.issue_type == type_name


def test_in_progress_label_moves_open_issue_to_in_progress():
    settings = GitHubSettings.from_dict({"in_progress_labels": ["doing"]})
    assert map_issue(make(labels=[{"name": "Doing"}]), settings).status_category == "in_progress"


def test_project_status_and_estimate_apply_while_open_only():
    settings = GitHubSettings.from_dict({"project_status_map": {"Shipping": "in_progress"}})
    board = ProjectValues(status="Shipping", estimate=8.0)
    labelled = make(labels=[{"name": "sp: 2"}])
    assert map_issue(labelled, settings, project=board).status_category == "in_progress"
    assert map_issue(labelled, settings, project=board).estimate == 8.0
    default_names = ProjectValues(status="Done")
    assert map_issue(make(), DEFAULTS, project=default_names).status_category == "done"
    closed = make(state="closed", state_reason="not_planned")
    assert map_issue(closed, settings, project=board).status_category == StatusCategory.cancelled


def test_estimate_label_pattern_is_configurable():
    settings = GitHubSettings.from_dict({"estimate_label_pattern": r"^size/(\d+)$"})
    assert map_issue(make(labels=[{"name": "size/5"}]), settings).estimate == 5.0
    assert map_issue(make(labels=[{"name": "points: 5"}]), settings).estimate is None


def test_parent_from_parent_issue_url_without_a_request():
    url = "https://api.github.com/repos/octo/other/issues/12"
    assert map_issue(make(parent_issue_url=url), DEFAULTS).parent_key == "octo/other#12"
    assert parent_key_from_url("https://ghe.example.com/api/v3/repos/a/b/issues/3") == "a/b#3"
    assert parent_key_from_url(None) is None


def test_repo_from_enterprise_api_url():
    assert repo_from_api_url("https://ghe.example.com/api/v3/repos/a/b") == "a/b"
    assert repo_from_api_url("https://example.com/other") is None
