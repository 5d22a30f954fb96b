"""A fake GitHub issues endpoint (wire format, Link pages, inclusive `since`, ETags, deletes)."""

from __future__ import annotations

import hashlib
import json
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
