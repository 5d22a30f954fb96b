import copy
from datetime import UTC, datetime

import pytest

from connectors.base import FatalUpstreamError
from connectors.jira.mapping import (
    MappingConfig,
    config_from_settings,
    current_sprint,
    item_kind,
    map_issue,
)
from schemas.enums import StatusCategory

CONFIG = MappingConfig(
    story_points_field="customfield_10016",
    sprint_field="customfield_10020",
    epic_link_field="customfield_10014",
)


@pytest.fixture
def epic(load_fixture):
    return load_fixture("airbyte-issues.json")["issues"][0]


def with_fields(issue, **changes):
    changed = copy.deepcopy(issue)
    changed["fields"].update(changes)
    return changed


def status(name, category):
    return {"name": name, "statusCategory": {"key": category}}


def test_real_v3_epic_with_adf_description(epic):
    item = map_issue(epic, CONFIG)
    assert item.external_id == "10627"
    assert item.key == "TESTKEY13-1"
    assert item.kind == "epic"
    assert item.issue_type == "Epic"
    assert item.title == "My Summary"
    assert item.project == "TESTKEY13"
    assert (item.status, item.status_category) == ("To Do", StatusCategory.todo)
    assert item.labels == ["test"]
    assert item.components == ["Component 0"]
    assert item.fix_versions == []
    assert item.assignee == "5fc9e78d2730d800760becc4"
    assert item.assignee_name == "integration test"
    assert item.estimate is None
    assert item.sprint is None
    assert item.parent_external_id is None and item.parent_key is None
    assert item.url == "https://airbyteio.atlassian.net/browse/TESTKEY13-1"
    assert item.upstream_created_at == datetime(2022, 6, 9, 23, 29, 31, 871000, tzinfo=UTC)
    assert item.upstream_updated_at == datetime(2022, 12, 8, 10, 22, 18, 889000, tzinfo=UTC)
    assert item.resolved_at is None
    assert item.raw == epic


def test_real_v2_webhook_issue_with_plain_description(load_fixture):
    issue = load_fixture("sirajju-skill-sync.issue_updated.json")["issue"]
    assert isinstance(issue["fields"]["description"], str)
    item = map_issue(issue, CONFIG)
    assert (item.external_id, item.key, item.kind) == ("10021", "KAN-22", "task")
    assert item.assignee_name == "Sirajudheen MK"
    # The capture's `self` lacks /issue/ (a real quirk); only its origin is used.
    assert item.url == "https://helloworld-test.atlassian.net/browse/KAN-22"
    assert item.upstream_updated_at == datetime(2024, 12, 29, 3, 13, 45, 214000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("new", StatusCategory.todo),
        ("undefined", StatusCategory.todo),
        ("indeterminate", StatusCategory.in_progress),
        ("done", StatusCategory.done),
    ],
)
def test_status_categories(epic, category, expected):
    item = map_issue(with_fields(epic, status=status("Whatever", category)), CONFIG)
    assert item.status == "Whatever"
    assert item.status_category is expected


@pytest.mark.parametrize("resolution", ["Won't Do", "Duplicate", "Cannot Reproduce", "duplicate"])
def test_cancelled_resolutions_on_done_status(epic, resolution):
    issue = with_fields(epic, status=status("Closed", "done"), resolution={"name": resolution})
    assert map_issue(issue, CONFIG).status_category is StatusCategory.cancelled


def test_done_resolution_stays_done_and_reopened_stays_active(epic):
    done = with_fields(epic, status=status("Done", "done"), resolution={"name": "Done"})
    assert map_issue(done, CONFIG).status_category is StatusCategory.done
    reopened = with_fields(
        epic, status=status("Reopened", "indeterminate"), resolution={"name": "Won't Do"}
    )
    assert map_issue(reopened, CONFIG).status_category is StatusCategory.in_progress


def test_cancelled_resolutions_are_configurable(epic):
    config = config_from_settings({"cancelled_resolutions": ["Obsolete"]})
    obsolete = with_fields(epic, status=status("Closed", "done"), resolution={"name": "Obsolete"})
    wont_do = with_fields(epic, status=status("Closed", "done"), resolution={"name": "Won't Do"})
    assert map_issue(obsolete, config).status_category is StatusCategory.cancelled
    assert map_issue(wont_do, config).status_category is StatusCategory.done


@pytest.mark.parametrize(
    ("issuetype", "kind"),
    [
        ({"name": "Sub-task", "hierarchyLevel": -1}, "subtask"),
        ({"name": "Story", "hierarchyLevel": 0}, "story"),
        ({"name": "Bug", "hierarchyLevel": 0}, "bug"),
        ({"name": "Task", "hierarchyLevel": 0}, "task"),
        ({"name": "Improvement", "hierarchyLevel": 0}, "task"),
        ({"name": "Epic", "hierarchyLevel": 1}, "epic"),
        ({"name": "Initiative", "hierarchyLevel": 2}, "portfolio"),
        ({"name": "Sub-task", "subtask": True}, "subtask"),
    ],
)
def test_kind_from_hierarchy_level(issuetype, kind):
    assert item_kind(issuetype) == kind


def test_parent_field_wins_over_legacy_epic_link(epic):
    issue = with_fields(
        epic,
        parent={"id": "10097", "key": "ABC-1", "self": "https://x/rest/api/3/issue/10097"},
        customfield_10014="OLD-9",
    )
    item = map_issue(issue, CONFIG)
    assert (item.parent_external_id, item.parent_key) == ("10097", "ABC-1")


def test_legacy_epic_link_gives_key_only(epic):
    item = map_issue(with_fields(epic, parent=None, customfield_10014="ABC-1"), CONFIG)
    assert (item.parent_external_id, item.parent_key) == (None, "ABC-1")
    no_link_field = MappingConfig()
    assert map_issue(with_fields(epic, customfield_10014="ABC-1"), no_link_field).parent_key is None


def test_moved_issue_keeps_id_and_takes_new_key(epic):
    moved = copy.deepcopy(epic)
    moved["key"] = "NEWPROJ-7"
    moved["fields"]["project"] = {"id": "10020", "key": "NEWPROJ"}
    before, after = map_issue(epic, CONFIG), map_issue(moved, CONFIG)
    assert before.external_id == after.external_id == "10627"
    assert (after.key, after.project) == ("NEWPROJ-7", "NEWPROJ")
    assert after.url == "https://airbyteio.atlassian.net/browse/NEWPROJ-7"


def test_story_points_sprint_versions_and_resolution_date(epic):
    sprints = [
        {"id": 1, "name": "Sprint 1", "state": "closed", "startDate": "2024-01-01T00:00:00.000Z"},
        {"id": 3, "name": "Sprint 3", "state": "future"},
        {"id": 2, "name": "Sprint 2", "state": "active", "startDate": "2024-01-15T00:00:00.000Z"},
    ]
    issue = with_fields(
        epic,
        customfield_10016=5,
        customfield_10020=sprints,
        fixVersions=[{"id": "1", "name": "1.0"}, {"id": "2", "name": "1.1"}],
        resolutiondate="2024-02-01T09:00:00.000+0100",
    )
    item = map_issue(issue, CONFIG)
    assert item.estimate == 5.0 and isinstance(item.estimate, float)
    assert item.sprint == "Sprint 2"
    assert item.fix_versions == ["1.0", "1.1"]
    assert item.resolved_at == datetime(2024, 2, 1, 8, 0, tzinfo=UTC)


def test_without_active_sprint_the_latest_is_taken():
    closed_only = [
        {"id": 1, "name": "Sprint 1", "state": "closed", "startDate": "2024-01-01"},
        {"id": 2, "name": "Sprint 2", "state": "closed", "startDate": "2024-01-15"},
    ]
    assert current_sprint(closed_only) == "Sprint 2"
    assert current_sprint([*closed_only, {"id": 3, "name": "Next", "state": "future"}]) == "Next"
    legacy = ["com.atlassian.greenhopper.service.sprint.Sprint@1f[id=7,state=ACTIVE,name=S 7]"]
    assert current_sprint(legacy) == "S 7"
    assert current_sprint(None) is None


def test_site_url_setting_overrides_issue_origin(epic):
    config = config_from_settings({"site_url": "https://acme.atlassian.net"})
    assert map_issue(epic, config).url == "https://acme.atlassian.net/browse/TESTKEY13-1"


def test_issue_without_updated_is_rejected(epic):
    with pytest.raises(FatalUpstreamError):
        map_issue(with_fields(epic, updated=None), CONFIG)
