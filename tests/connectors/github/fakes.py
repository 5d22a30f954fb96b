"""A small in-memory GitHub issues endpoint for counting requests, and fixture loaders."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "github"
BASE = "https://api.github.com"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def recorded(name: str) -> list[dict[str, Any]]:
    """nock entries as (method, path, status, headers, body)."""
    return load(name)


def nock_response(entry: dict[str, Any]) -> httpx.Response:
    raw = entry["rawHeaders"]
    headers = [
        (k, v) for k, v in zip(raw[::2], raw[1::2], strict=True) if k.lower() != "content-length"
    ]
    return httpx.Response(entry["status"], headers=headers, json=entry["response"])


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def issue(repo: str, number: int, updated: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "node_id": f"I_{repo.replace('/', '_')}_{number}",
        "number": number,
        "title": f"Issue {number}",
        "state": "open",
        "labels": [],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "created_at": stamp(updated),
        "updated_at": stamp(updated),
        "closed_at": None,
        "html_url": f"https://github.com/{repo}/issues/{number}",
        "repository_url": f"{BASE}/repos/{repo}",
        **extra,
    }


class FakeIssuesServer:
    """Serves `GET /repos/{o}/{r}/issues` like GitHub: since (inclusive), sort=updated asc,
    page links, body ETags answered 304, and rate-limit headers."""

    def __init__(self, repo: str, count: int, start: datetime) -> None:
        self.repo = repo
        self.start = start
        self.issues = {n: issue(repo, n, start + timedelta(minutes=n)) for n in range(1, count + 1)}
        self.requests: list[httpx.Request] = []

    def touch(self, numbers: range | list[int], when: datetime) -> None:
        """Edit issues one second apart, starting at `when`."""
        for offset, n in enumerate(numbers):
            updated = stamp(when + timedelta(seconds=offset))
            self.issues[n] = {**self.issues[n], "updated_at": updated, "title": f"edited {n}"}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = request.url.params
        per_page = int(params.get("per_page", 30))
        page = int(params.get("page", 1))
        since = params.get("since")
        rows = sorted(self.issues.values(), key=lambda i: (i["updated_at"], i["number"]))
        if since:
            rows = [i for i in rows if i["updated_at"] >= since]
        if params.get("state") != "all":
            rows = [i for i in rows if i["state"] == "open"]
        body = rows[(page - 1) * per_page : page * per_page]
        payload = json.dumps(body).encode()
        etag = '"' + hashlib.sha256(payload).hexdigest() + '"'
        headers = {
            "etag": etag,
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4000",
            "x-ratelimit-reset": str(int((self.start + timedelta(hours=1)).timestamp())),
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
