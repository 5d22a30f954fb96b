"""Test helpers for the Jira connector: payload builders, a fake clock and a fake search server."""

import copy
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "jira"
SITE = "https://acme.atlassian.net"
LA = ZoneInfo("America/Los_Angeles")
CREDENTIALS = {"email": "bot@example.com", "api_token": "tok-secret"}
FIELD_SETTINGS = {
    "story_points_field": "customfield_10016",
    "sprint_field": "customfield_10020",
    "epic_link_field": "customfield_10014",
}
MYSELF = {
    "accountId": "5fc9e78d2730d800760becc4",
    "displayName": "integration test",
    "timeZone": "America/Los_Angeles",
}
LEGACY_410 = {
    "errorMessages": [
        "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
        "A full migration guideline is available at "
        "https://developer.atlassian.com/changelog/#CHANGE-2046"
    ],
    "errors": {},
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def jira_time(moment: datetime, zone: Any = LA) -> str:
    """Jira's wire form: `2024-01-15T10:30:00.000-0800`."""
    local = moment.astimezone(zone)
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}"
        + (local.strftime("%z"))
    )


_TEMPLATE = load("airbyte-issues.json")["issues"][0]


def make_issue(number: int, updated: datetime, project: str = "KAN", **fields: Any) -> dict:
    issue = copy.deepcopy(_TEMPLATE)
    for extra in ("projectId", "projectKey", "created", "updated"):
        issue.pop(extra, None)  # Airbyte additions, not Jira wire format
    issue["id"] = str(20000 + number)
    issue["key"] = f"{project}-{number}"
    issue["self"] = f"{SITE}/rest/api/3/issue/{issue['id']}"
    issue["fields"]["project"] = {"id": "10000", "key": project, "name": project}
    issue["fields"]["updated"] = jira_time(updated)
    issue["fields"].update(fields)
    return issue


def light_issue(number: int, updated: datetime) -> dict:
    """Just what the search server and the id sweep need, for large counts."""
    issue_id = str(20000 + number)
    return {
        "id": issue_id,
        "key": f"KAN-{number}",
        "self": f"{SITE}/rest/api/3/issue/{issue_id}",
        "fields": {"updated": jira_time(updated)},
    }


class FakeSearch:
    """`POST /rest/api/3/search/jql` over an in-memory issue list.

    Honours `updated >= "yyyy-MM-dd HH:mm"` (read in `zone`), `fields`, `maxResults` (capped at
    `page_cap`) and `nextPageToken`, and sorts by updated then id like `ORDER BY updated, key`.
    """

    def __init__(self, issues: list[dict], *, zone: Any = LA, page_cap: int = 5000) -> None:
        self.issues = issues
        self.zone = zone
        self.page_cap = page_cap
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        selected = self.issues
        bound = re.search(r'updated >= "([^"]+)"', body["jql"])
        if bound:
            since = datetime.strptime(bound.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=self.zone)
            selected = [
                i for i in selected if datetime.fromisoformat(i["fields"]["updated"]) >= since
            ]
        selected = sorted(
            selected, key=lambda i: (datetime.fromisoformat(i["fields"]["updated"]), int(i["id"]))
        )
        start = int(body.get("nextPageToken") or 0)
        size = min(body.get("maxResults", 50), self.page_cap)
        chunk = selected[start : start + size]
        wanted = set(body.get("fields") or ["id"])
        issues = [
            {"id": i["id"], "key": i["key"], "self": i["self"]}
            | (
                {"fields": {k: v for k, v in i["fields"].items() if k in wanted}}
                if wanted != {"id"}
                else {}
            )
            for i in chunk
        ]
        page: dict[str, Any] = {"issues": issues, "isLast": start + size >= len(selected)}
        if not page["isLast"]:
            page["nextPageToken"] = str(start + size)
        return httpx.Response(200, json=page)
