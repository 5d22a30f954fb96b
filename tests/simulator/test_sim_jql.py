from zoneinfo import ZoneInfo

import pytest

from service.simulator import SimulatorConfig
from service.simulator.jira_data import generate_jira
from service.simulator.jql import UNBOUNDED_MESSAGE, JQLError, compile_jql, parse_jql_date

LA = ZoneInfo("America/Los_Angeles")
DATA = generate_jira(SimulatorConfig(seed=2, jira_issues=120))
NOW = 1_748_854_800_000  # 2025-06-02T09:00:00Z


def matching(jql: str) -> set[str]:
    compiled = compile_jql(jql, DATA, LA, NOW)
    return {DATA.key_of(i) for i in DATA.issues.values() if compiled.predicate(i)}


def test_dates_are_read_in_the_given_zone() -> None:
    # 2025-01-15 10:00 in Los Angeles (PST, UTC-8) is 18:00 UTC.
    assert parse_jql_date("2025-01-15 10:00", "updated", LA, NOW) == 1_736_964_000_000
    assert parse_jql_date("2025/01/15 10:00", "updated", LA, NOW) == 1_736_964_000_000
    assert parse_jql_date("2025-01-15", "updated", LA, NOW) == 1_736_928_000_000
    # Daylight saving: July is PDT, UTC-7.
    assert parse_jql_date("2025-07-01 00:00", "updated", LA, NOW) == 1_751_353_200_000


def test_relative_periods_count_back_from_the_simulated_clock() -> None:
    assert parse_jql_date("-15m", "updated", LA, NOW) == NOW - 15 * 60_000
    assert parse_jql_date("-1w 2d", "updated", LA, NOW) == NOW - 9 * 86_400_000


def test_in_and_equals_and_or_select_the_same_projects() -> None:
    assert matching("project in (PLAT, MOB)") == matching('project = "PLAT" OR project = MOB')
    assert matching("project = PLAT") | matching("project = MOB") == matching(
        "project in (PLAT, MOB)"
    )


def test_not_and_not_in() -> None:
    everything = matching("project in (PLAT, MOB, OPS)")
    assert matching(
        "project in (PLAT, MOB, OPS) AND project not in (PLAT)"
    ) == everything - matching("project = PLAT")
    assert matching("project in (PLAT, MOB, OPS) AND NOT project = MOB") == everything - matching(
        "project = MOB"
    )


def test_order_by_updated_then_key() -> None:
    compiled = compile_jql("project = PLAT ORDER BY updated ASC, key ASC", DATA, LA, NOW)
    issues = sorted(
        (i for i in DATA.issues.values() if compiled.predicate(i)), key=compiled.sort_key
    )

    assert [i.updated for i in issues] == sorted(i.updated for i in issues)


@pytest.mark.parametrize(
    "jql",
    [
        "",
        'updated >= "2025-01-01"',
        "project = PLAT OR updated >= -1d",
        "NOT project = PLAT",
        "project != PLAT",
    ],
)
def test_unbounded_queries_are_refused(jql: str) -> None:
    with pytest.raises(JQLError, match="Unbounded"):
        compile_jql(jql, DATA, LA, NOW)


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("project = PLAT AND", "Error in the JQL Query"),
        ("project = PLAT ORDER BY", "Error in the JQL Query"),
        ("project == PLAT", "Error in the JQL Query"),
        ("(project = PLAT", "Error in the JQL Query"),
        ('project = PLAT AND updated >= "yesterday"', "Date value 'yesterday'"),
        ("project = PLAT AND votes > 3", "Field 'votes' does not exist"),
        ("project = PLAT ORDER BY summary", "Not able to sort"),
    ],
)
def test_malformed_queries_name_the_problem(jql: str, message: str) -> None:
    with pytest.raises(JQLError, match=message):
        compile_jql(jql, DATA, LA, NOW)


def test_unbounded_message_is_jiras() -> None:
    assert UNBOUNDED_MESSAGE.startswith("Unbounded JQL queries are not allowed here.")
