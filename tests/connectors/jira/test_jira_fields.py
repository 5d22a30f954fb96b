from connectors.jira import fields


def test_openapi_example_has_no_candidates(load_fixture):
    choices = fields.discover(load_fixture("field.get.200.json"), {})
    assert {role: choice.id for role, choice in choices.items()} == {
        "story_points": None,
        "sprint": None,
        "epic_link": None,
    }


def test_company_managed_site(load_fixture):
    choices = fields.discover(load_fixture("field.company-managed.json"), {})
    assert choices["story_points"].as_dict() == {
        "id": "customfield_10016",
        "name": "Story point estimate",
        "reason": "schema.custom jsw-story-points",
        "candidates": [
            {
                "id": "customfield_10016",
                "name": "Story point estimate",
                "type": fields.JSW_STORY_POINTS,
            }
        ],
        "ambiguous": False,
    }
    assert choices["sprint"].id == "customfield_10020"
    assert choices["epic_link"].id == "customfield_10014"
    assert fields.field_settings(choices) == {
        "story_points_field": "customfield_10016",
        "sprint_field": "customfield_10020",
        "epic_link_field": "customfield_10014",
    }


def test_team_managed_site_takes_the_field_scoped_to_our_project(load_fixture):
    choices = fields.discover(load_fixture("field.team-managed.json"), {}, project_ids=["10002"])
    story_points = choices["story_points"]
    assert story_points.id == "customfield_10037"
    assert not story_points.ambiguous
    assert "10002" in story_points.reason
    assert choices["epic_link"].id is None


def test_team_managed_fields_of_other_projects_are_not_probed(load_fixture):
    candidates = fields.find_candidates(load_fixture("field.team-managed.json"))
    assert fields.needs_probe(candidates, {"10001"}) == []
    assert fields.needs_probe(candidates, set()) == ["customfield_10036", "customfield_10037"]


def test_ambiguous_site_without_usage_prefers_jsw_field_and_says_so(load_fixture):
    choices = fields.discover(load_fixture("field.ambiguous.json"), {})
    story_points = choices["story_points"]
    assert story_points.id == "customfield_10016"
    assert story_points.ambiguous
    # "Velocity" is a float field but not named Story Points: not a candidate.
    assert [c.id for c in story_points.candidates] == ["customfield_10016", "customfield_10026"]


def test_ambiguous_site_picks_the_candidate_used_in_scope(load_fixture):
    issues = [
        {"fields": {"customfield_10016": None, "customfield_10026": 3}},
        {"fields": {"customfield_10016": None, "customfield_10026": 5.5}},
        {"fields": {"customfield_10016": 1, "customfield_10026": None}},
    ]
    usage = fields.usage_from_issues(issues, ["customfield_10016", "customfield_10026"])
    assert usage == {"customfield_10016": 1, "customfield_10026": 2}
    choices = fields.discover(load_fixture("field.ambiguous.json"), {}, usage=usage)
    assert choices["story_points"].id == "customfield_10026"
    assert choices["story_points"].ambiguous
    assert "most used" in choices["story_points"].reason


def test_settings_override_discovery(load_fixture):
    settings = {"story_points_field": "customfield_10026", "sprint_field": "customfield_99999"}
    choices = fields.discover(load_fixture("field.ambiguous.json"), settings)
    assert choices["story_points"].id == "customfield_10026"
    assert choices["story_points"].name == "Story Points"
    assert choices["story_points"].reason == "setting story_points_field"
    assert choices["sprint"].id == "customfield_99999"
    assert choices["sprint"].name is None


def test_writable_fields_are_custom_text_and_single_select(load_fixture):
    custom = "com.atlassian.jira.plugin.system.customfieldtypes:"
    site = [
        *load_fixture("field.company-managed.json"),
        {"id": "customfield_10061", "name": "Theme", "schema": {"custom": custom + "select"}},
        {"id": "customfield_10060", "name": "Note", "schema": {"custom": custom + "textfield"}},
        {"id": "customfield_10062", "name": "Long", "schema": {"custom": custom + "textarea"}},
        {"id": "customfield_10063", "name": "Many", "schema": {"custom": custom + "multiselect"}},
        {"id": "customfield_10064", "name": "Pick", "schema": {"custom": custom + "radiobuttons"}},
        {"name": "no id", "schema": {"custom": custom + "textfield"}},
    ]
    assert fields.writable_fields(site) == [
        {"id": "customfield_10060", "name": "Note", "type": "text"},
        {"id": "customfield_10061", "name": "Theme", "type": "select"},
        {"id": "customfield_10062", "name": "Long", "type": "text"},
        {"id": "customfield_10064", "name": "Pick", "type": "select"},
    ]
