import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from connectors.base import Ignore, Tombstone, Upsert
from connectors.github.webhooks import delivery_id, parse_event, payload_repo, verify_signature

from .fakes import FIXTURES, load

VECTOR = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
SECRET = "It's a Secret to Everybody"


def test_documented_signature_vector_verifies():
    assert verify_signature(SECRET, b"Hello, World!", VECTOR) is True


@pytest.mark.parametrize(
    ("secret", "header"),
    [
        ("wrong secret", VECTOR),
        (SECRET, None),
        (SECRET, ""),
        (SECRET, VECTOR.removeprefix("sha256=")),
        (SECRET, "sha1=" + hmac.new(SECRET.encode(), b"Hello, World!", hashlib.sha1).hexdigest()),
    ],
)
def test_bad_signatures_are_rejected(secret, header):
    assert verify_signature(secret, b"Hello, World!", header) is False


def test_body_change_invalidates_signature():
    assert verify_signature(SECRET, b"Hello, World?", VECTOR) is False


def test_delivery_id_joins_hook_id_and_guid_case_insensitively():
    headers = {"X-GitHub-Hook-ID": "292430182", "x-github-delivery": "72d3162e-cc78"}
    assert delivery_id(headers) == "292430182:72d3162e-cc78"


def event_of(name: str) -> str:
    return name.removeprefix("net.").split(".", 1)[0]


@pytest.mark.parametrize(
    "name",
    [
        "issues.opened.json",
        "issues.opened.with-organization.json",
        "issues.edited.json",
        "issues.milestoned.json",
        "issues.demilestoned.json",
        "issues.reopened.json",
        "issues.labeled.json",
        "issues.assigned.json",
        "issues.closed.json",
        "net.issues.reopened.json",
        "net.issues.typed.json",
    ],
)
def test_issue_events_upsert_the_mapped_issue(name):
    payload = load(f"webhooks/{name}")
    result = parse_event("issues", payload, {})
    assert isinstance(result, Upsert)
    issue = payload["issue"]
    repo = payload["repository"]["full_name"]
    if issue.get("pull_request"):
        # issues events also fire for pull requests; they keep the pull request identity
        assert result.item.external_id == f"pr:{repo.lower()}#{issue['number']}"
        assert result.item.kind == "pull_request"
    else:
        assert result.item.external_id == issue["node_id"]
    assert result.item.key == f"{repo}#{issue['number']}"
    assert result.item.title == issue["title"]
    assert result.item.labels == [label["name"] for label in issue["labels"]]
    assert result.item.milestone == (issue.get("milestone") or {}).get("title")
    assert payload_repo(payload) == repo


def test_closed_issue_event_is_done_and_typed_event_keeps_type():
    closed = parse_event("issues", load("webhooks/issues.closed.json"), {})
    assert isinstance(closed, Upsert)
    assert (closed.item.status, closed.item.status_category) == ("closed:completed", "done")
    assert closed.item.resolved_at == datetime(2019, 5, 15, 15, 21, tzinfo=UTC)
    typed = parse_event("issues", load("webhooks/net.issues.typed.json"), {})
    assert isinstance(typed, Upsert)
    assert (typed.item.issue_type, typed.item.kind) == ("Feature", "issue")
    milestoned = parse_event("issues", load("webhooks/issues.milestoned.json"), {})
    assert isinstance(milestoned, Upsert) and milestoned.item.milestone == "v1.0"


@pytest.mark.parametrize("name", ["issues.deleted.json", "issues.transferred.json"])
def test_deleted_and_transferred_issues_become_tombstones(name):
    payload = load(f"webhooks/{name}")
    result = parse_event("issues", payload, {})
    assert isinstance(result, Tombstone)
    assert result.external_id == payload["issue"]["node_id"]
    assert result.key == f"{payload['repository']['full_name']}#{payload['issue']['number']}"
    assert result.occurred_at == datetime.fromisoformat(
        payload["issue"]["updated_at"].replace("Z", "+00:00")
    )


def test_pull_request_events_share_the_poll_identity():
    opened = parse_event("pull_request", load("webhooks/pull_request.opened.json"), {})
    closed = parse_event("pull_request", load("webhooks/pull_request.closed.json"), {})
    assert isinstance(opened, Upsert) and isinstance(closed, Upsert)
    assert opened.item.external_id == closed.item.external_id == "pr:codertocat/hello-world#2"
    assert opened.item.key == "Codertocat/Hello-World#2"
    assert opened.item.kind == "pull_request"
    assert (opened.item.status, opened.item.status_category) == ("open", "todo")
    assert (closed.item.status, closed.item.status_category) == ("closed:unmerged", "cancelled")
    assert closed.item.labels == ["bug"]


def test_merged_pull_request_is_done():
    payload = load("webhooks/pull_request.closed.json")
    payload["pull_request"].update(merged=True, merged_at="2019-05-15T15:21:18Z")
    result = parse_event("pull_request", payload, {})
    assert isinstance(result, Upsert)
    assert (result.item.status, result.item.status_category) == ("merged", "done")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ping.json", "ping"),
        ("ping.with-organization.json", "ping"),
        ("milestone.created.json", "milestone created"),
        ("milestone.closed.json", "milestone closed"),
        ("projects_v2_item.created.json", "applied at next poll"),
        ("projects_v2_item.edited.json", "applied at next poll"),
        ("net.projects_v2_item.edited.json", "applied at next poll"),
        ("net.projects_v2_item.edited.with-number.json", "applied at next poll"),
        ("label.created.json", "label created: not handled"),
        ("issue_comment.created.json", "issue_comment created: not handled"),
    ],
)
def test_other_events_are_ignored_with_a_reason(name, reason):
    result = parse_event(event_of(name), load(f"webhooks/{name}"), {})
    assert isinstance(result, Ignore)
    assert reason in result.reason


def test_every_copied_webhook_example_is_covered():
    names = {p.name for p in (FIXTURES / "webhooks").glob("*.json")}
    assert len(names) == 25
    for name in names:
        assert parse_event(event_of(name), load(f"webhooks/{name}"), {}) is not None


def sub_issue_payload(action: str) -> dict:
    base = load("webhooks/issues.opened.json")
    parent = {**base["issue"], "number": 99, "node_id": "I_parent"}
    return {
        "action": action,
        "sub_issue_id": base["issue"]["id"],
        "sub_issue": base["issue"],
        "sub_issue_repo": base["repository"],
        "parent_issue_id": 1,
        "parent_issue": parent,
        "parent_issue_repo": base["repository"],
        "repository": base["repository"],
    }


def test_sub_issue_added_sets_parent_and_removed_clears_it():
    added = parse_event("sub_issues", sub_issue_payload("sub_issue_added"), {})
    removed = parse_event("sub_issues", sub_issue_payload("sub_issue_removed"), {})
    assert isinstance(added, Upsert) and isinstance(removed, Upsert)
    assert added.item.parent_key == "Codertocat/Hello-World#99"
    assert added.item.key == "Codertocat/Hello-World#1"
    assert removed.item.parent_key is None


def test_settings_apply_to_webhook_mapping():
    payload = load("webhooks/issues.labeled.json")
    result = parse_event("issues", payload, {"epic_labels": ["bug"]})
    assert isinstance(result, Upsert) and result.item.kind == "epic"
