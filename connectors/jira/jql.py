"""JQL for the Jira search stream: scope, incremental cursor and the id sweep.

JQL date literals are minute-grained (`yyyy-MM-dd HH:mm`) and Jira reads them in the time zone of
the API user, so a cursor kept in UTC must be converted to that zone before formatting.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

logger = logging.getLogger(__name__)

ORDER_BY = "ORDER BY updated ASC, key ASC"
DEFAULT_OVERLAP = timedelta(minutes=2)
# Real offsets span UTC-12..UTC+14: widening by a day stays correct when the zone is unknown.
UNKNOWN_ZONE_EXTRA_OVERLAP = timedelta(hours=26)

_PROJECT_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


class JqlScopeError(ValueError):
    """The configured scope cannot produce a bounded JQL query."""


def quote(value: str) -> str:
    """A JQL string literal; quoting also keeps reserved words (e.g. a key `AND`) harmless."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def strip_order_by(jql: str) -> str:
    """Drop a trailing ORDER BY from a user filter: ours must be the only one."""
    in_quote: str | None = None
    escaped = False
    for index, char in enumerate(jql):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_quote:
            if char == in_quote:
                in_quote = None
        elif char in "\"'":
            in_quote = char
        elif _ORDER_BY.match(jql, index) and (index == 0 or not jql[index - 1].isalnum()):
            return jql[:index].rstrip()
    return jql.strip()


def project_keys(scope: Mapping[str, Any]) -> list[str]:
    keys = [str(key).strip() for key in scope.get("projects") or [] if str(key).strip()]
    for key in keys:
        if not _PROJECT_KEY.match(key):
            raise JqlScopeError(f"invalid Jira project key: {key!r}")
    return keys


def scope_clause(scope: Mapping[str, Any]) -> str:
    """`(project in (...)) AND (user filter)`: each part parenthesised so a user OR stays inside."""
    parts: list[str] = []
    keys = project_keys(scope)
    if keys:
        parts.append("(project in (" + ", ".join(quote(key) for key in keys) + "))")
    user_jql = strip_order_by(str(scope.get("jql") or ""))
    if user_jql:
        parts.append(f"({user_jql})")
    if not parts:
        # Jira rejects unbounded search/jql queries; fail at configuration time instead.
        raise JqlScopeError("Jira scope needs project keys or a JQL filter")
    return " AND ".join(parts)


def resolve_zone(name: str | None) -> tuple[tzinfo, timedelta]:
    """The user's zone and any extra overlap needed because it could not be resolved."""
    if name:
        try:
            return ZoneInfo(name), timedelta(0)
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("unknown Jira time zone %r; using UTC with a wider overlap", name)
    return UTC, UNKNOWN_ZONE_EXTRA_OVERLAP


def format_jql_datetime(moment: datetime, zone: tzinfo) -> str:
    """Truncating to the minute moves the bound earlier, which only re-reads (never skips)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def incremental_jql(
    scope: Mapping[str, Any],
    since: datetime | None,
    zone: tzinfo,
    overlap: timedelta = DEFAULT_OVERLAP,
) -> str:
    clause = scope_clause(scope)
    if since is not None:
        bound = format_jql_datetime(since - overlap, zone)
        clause = f'{clause} AND updated >= "{bound}"'
    return f"{clause} {ORDER_BY}"


def sweep_jql(scope: Mapping[str, Any]) -> str:
    return scope_clause(scope)


def probe_jql(scope: Mapping[str, Any]) -> str:
    """Recently updated issues reflect the fields a site uses today."""
    return f"{scope_clause(scope)} ORDER BY updated DESC"


def join_fields(*groups: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for group in groups:
        for name in group:
            if name:
                seen.setdefault(name, None)
    return list(seen)
