import hashlib
from datetime import UTC, datetime

from connectors.base import Ignore, Tombstone, Upsert
from connectors.jira.webhooks import delivery_id, parse_event, payload_project, verify_signature

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_valid_signature():
    assert verify_signature(SECRET, BODY, SIGNATURE)
    assert verify_signature(SECRET, BODY, SIGNATURE.upper().replace("SHA256", "sha256"))


def test_wrong_secret_or_body():
    assert not verify_signature("another secret", BODY, SIGNATURE)
    assert not verify_signature(SECRET, BODY + b" ", SIGNATURE)


def test_missing_header_or_secret():
    assert not verify_signature(SECRET, BODY, None)
    assert not verify_signature(SECRET, BODY, "")
    assert not verify_signature("", BODY, SIGNATURE)


def test_only_sha256_method_is_accepted():
    digest = SIGNATURE.split("=", 1)[1]
    assert not verify_signature(SECRET, BODY, f"sha1={digest}")
    assert not verify_signature(SECRET, BODY, digest)
    sha1 = hashlib.new("sha1", BODY).hexdigest()
    assert not verify_signature(SECRET, BODY, f"sha1={sha1}")


def test_delivery_id_prefers_atlassian_identifier_case_insensitively():
    assert delivery_id({"x-atlassian-webhook-identifier": " 42-abc "}, BODY) == "42-abc"
    fallback = delivery_id({}, BODY)
    assert fallback == "sha256:" + hashlib.sha256(BODY).hexdigest()
    assert delivery_id({"X-Atlassian-Webhook-Identifier": ""}, BODY) == fallback


def test_created_capture_upserts_with_discovered_fields(load_fixture):
    payload = load_fixture("sirajju-skill-sync.issue_created.json")
    payload["issue"]["fields"]["customfield_10016"] = 3
    settings = {"story_points_field": "customfield_10016", "sprint_field": "customfield_10020"}
    result = parse_event(payload, settings)
    assert isinstance(result, Upsert)
    assert (result.item.external_id, result.item.key, result.item.estimate) == (
        "10021",
        "KAN-22",
        3.0,
    )
    assert result.item.upstream_created_at == datetime(2024, 12, 29, 3, 11, 23, 303000, tzinfo=UTC)
    assert payload_project(payload) == "KAN"


def test_updated_capture_upserts_and_site_url_is_used(load_fixture):
    payload = load_fixture("sirajju-skill-sync.issue_updated.json")
    result = parse_event(payload, {}, site_url="https://jira.example.com")
    assert isinstance(result, Upsert)
    assert "create pages as well" in result.item.raw["fields"]["description"]
    assert result.item.url == "https://jira.example.com/browse/KAN-22"
    assert result.item.estimate is None


def test_deleted_event_is_a_tombstone(load_fixture):
    payload = load_fixture("sirajju-skill-sync.issue_updated.json")
    payload["webhookEvent"] = "jira:issue_deleted"
    payload["issue_event_type_name"] = "issue_deleted"
    result = parse_event(payload, {})
    assert result == Tombstone(
        external_id="10021",
        key="KAN-22",
        occurred_at=datetime(2024, 12, 29, 3, 13, 45, 214000, tzinfo=UTC),
    )


def test_comment_and_unknown_events_are_ignored_with_reason(load_fixture):
    payload = load_fixture("sirajju-skill-sync.issue_updated.json")
    payload["webhookEvent"] = "comment_created"
    result = parse_event(payload, {})
    assert isinstance(result, Ignore) and "comment_created" in result.reason
    assert isinstance(parse_event({}, {}), Ignore)
    no_issue = parse_event({"webhookEvent": "jira:issue_updated"}, {})
    assert isinstance(no_issue, Ignore) and "issue" in no_issue.reason
    assert payload_project({}) is None
