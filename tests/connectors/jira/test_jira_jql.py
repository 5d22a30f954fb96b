from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.jira import jql

LA = ZoneInfo("America/Los_Angeles")


def test_scope_quotes_project_keys_and_parenthesises_user_filter():
    clause = jql.scope_clause({"projects": ["ABC", "AND"], "jql": "labels = x OR labels = y"})
    assert clause == '(project in ("ABC", "AND")) AND (labels = x OR labels = y)'


def test_scope_rejects_key_that_could_inject_jql():
    with pytest.raises(jql.JqlScopeError):
        jql.scope_clause({"projects": ['ABC") OR (project = "X']})


def test_empty_scope_is_refused_because_search_must_be_bounded():
    with pytest.raises(jql.JqlScopeError):
        jql.scope_clause({"projects": [], "jql": "  "})


def test_user_order_by_is_dropped_but_quoted_text_is_kept():
    assert jql.strip_order_by("project = A ORDER BY created DESC") == "project = A"
    kept = 'summary ~ "order by"'
    assert jql.strip_order_by(kept) == kept


def test_quote_escapes_quotes_and_backslashes():
    assert jql.quote('a"b\\c') == '"a\\"b\\\\c"'


def test_cursor_is_formatted_in_user_zone_minus_overlap():
    since = datetime(2024, 1, 15, 18, 30, 45, tzinfo=UTC)  # 10:30:45 in Los Angeles (PST)
    query = jql.incremental_jql({"projects": ["KAN"]}, since, LA, timedelta(minutes=2))
    assert query == (
        '(project in ("KAN")) AND updated >= "2024-01-15 10:28" ORDER BY updated ASC, key ASC'
    )


def test_cursor_uses_daylight_saving_offset_in_summer():
    since = datetime(2024, 7, 1, 0, 5, tzinfo=UTC)
    assert jql.format_jql_datetime(since, LA) == "2024-06-30 17:05"


def test_first_run_has_no_updated_clause_but_keeps_order():
    query = jql.incremental_jql({"jql": "project = KAN"}, None, UTC)
    assert query == "(project = KAN) ORDER BY updated ASC, key ASC"


def test_unknown_zone_falls_back_to_utc_with_wider_overlap():
    zone, extra = jql.resolve_zone("Mars/Olympus_Mons")
    assert zone is UTC
    assert extra >= timedelta(hours=14)
    assert jql.resolve_zone("America/Los_Angeles") == (LA, timedelta(0))
