"""A fake GitHub issues endpoint (wire format, Link pages, inclusive `since`, ETags, deletes)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

BASE = "https://api.github.com"
REPO = "octo/repo"
TOKEN = "ghp_SyncTestToken0123456789abcdefXYZ"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def issue(number: int, updated: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "node_id": f"I_octo_repo_{number}",
        "number": number,
        "title": f"Issue {number}",
        "state": "open",
        "labels": [],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "created_at": stamp(START),
        "updated_at": stamp(updated),
        "closed_at": None,
        "html_url": f"https://github.com/{REPO}/issues/{number}",
        "repository_url": f"{BASE}/repos/{REPO}",
        **extra,
    }


class FakeGitHub:
    """`GET /repos/octo/repo/issues`; `reads` are sorted listings, `sweeps` the id sweep."""

    def __init__(self, count: int) -> None:
        self.issues = {n: issue(n, START + timedelta(minutes=n)) for n in range(1, count + 1)}
        self.requests: list[httpx.Request] = []
        self.remaining = 4000

    @property
    def reads(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.params.get("sort") == "updated"]

    @property
    def sweeps(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.params.get("sort") != "updated"]

    def edit(self, number: int, when: datetime, **fields: Any) -> None:
        base = self.issues.get(number) or issue(number, when)
        self.issues[number] = {**base, "updated_at": stamp(when), **fields}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.remaining -= 1
        params = request.url.params
        per_page = int(params.get("per_page", 30))
        page = int(params.get("page", 1))
        rows = sorted(self.issues.values(), key=lambda i: (i["updated_at"], i["number"]))
        if since := params.get("since"):
            rows = [i for i in rows if i["updated_at"] >= since]
        body = rows[(page - 1) * per_page : page * per_page]
        payload = json.dumps(body).encode()
        etag = '"' + hashlib.sha256(payload).hexdigest() + '"'
        headers = {
            "etag": etag,
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(int((START + timedelta(days=400)).timestamp())),
            "x-ratelimit-resource": "core",
        }
        if page * per_page < len(rows):
            following = request.url.copy_merge_params({"page": page + 1})
            headers["link"] = f'<{following}>; rel="next"'
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers=headers)
        return httpx.Response(
            200, content=payload, headers={**headers, "content-type": "application/json"}
        )


_REPO_QUERY = re.compile(r"repository\(owner: \$owner, name: \$name\)")
_CONNECTION = re.compile(r"\b(issues|pullRequests)\(first: (\d+), after: \$after\)")
_ALIAS = re.compile(r"(c\d+): (issue|pullRequest)\(number: (\d+)\)")


class FakeGraphQL:
    """`POST /graphql` over a `FakeGitHub`'s issues: the id listing (`repository.issues` /
    `pullRequests`, cursor pages) and aliased look-ups by number (null + NOT_FOUND when gone).
    Issues with a `pull_request` key are pull requests; `requests` keeps every query sent."""

    def __init__(self, rest: FakeGitHub) -> None:
        self.rest = rest
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = json.loads(request.content)
        query, variables = body["query"], body.get("variables") or {}
        assert (
            _REPO_QUERY.search(query)
            and variables.get("owner") + "/" + variables.get("name") == REPO
        ), query
        by_number = self.rest.issues
        repository: dict[str, Any] = {}
        errors = []
        if connection := _CONNECTION.search(query):
            kind, first = connection.group(1), int(connection.group(2))
            numbers = sorted(
                n for n, i in by_number.items() if ("pull_request" in i) == (kind != "issues")
            )
            start = int(variables.get("after") or 0)
            chunk = numbers[start : start + first]
            nodes = [
                {"id": by_number[n]["node_id"]} if kind == "issues" else {"number": n}
                for n in chunk
            ]
            repository[kind] = {
                "pageInfo": {
                    "hasNextPage": start + first < len(numbers),
                    "endCursor": str(start + len(chunk)),
                },
                "nodes": nodes,
            }
        for alias, kind, number in _ALIAS.findall(query):
            found = by_number.get(int(number))
            if found is not None and ("pull_request" in found) == (kind == "pullRequest"):
                repository[alias] = {"number": int(number)}
            else:
                repository[alias] = None
                errors.append({"type": "NOT_FOUND", "path": ["repository", alias]})
        rate = {"cost": 1, "limit": 5000, "remaining": 4990, "resetAt": stamp(START)}
        payload: dict[str, Any] = {"data": {"repository": repository, "rateLimit": rate}}
        if errors:
            payload["errors"] = errors
        return httpx.Response(200, json=payload, headers={"x-ratelimit-resource": "graphql"})
