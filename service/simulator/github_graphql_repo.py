"""`repository(owner:, name:)` over GraphQL: the id listing and look-ups by number.

Answers `issues(first:, after:)` / `pullRequests(first:, after:)` connections (nodes carry
`id` and `number`, ordered by number, live items only) and aliased `issue(number:)` /
`pullRequest(number:)` fields, which are null with a NOT_FOUND error when the item is deleted,
is of the other kind, or never existed: what a connector's delete sweep and its confirmation
of deletion candidates send.
"""

from __future__ import annotations

import re
from typing import Any

from service.simulator.github_data import GhIssue, GitHubData
from service.simulator.graphql_args import (
    _ARG,
    GraphQLError,
    decode_cursor,
    encode_cursor,
    value_of,
)

_REPOSITORY = re.compile(
    r"repository\s*\(\s*owner\s*:\s*" + _ARG + r"\s*,\s*name\s*:\s*" + _ARG + r"\s*\)"
)
_CONNECTION = re.compile(r"\b(issues|pullRequests)\s*\(([^)]*)\)")
_FIRST = re.compile(r"\bfirst\s*:\s*" + _ARG)
_AFTER = re.compile(r"\bafter\s*:\s*" + _ARG)
_LOOKUP = re.compile(r"(\w+)\s*:\s*(issue|pullRequest)\s*\(\s*number\s*:\s*" + _ARG + r"\s*\)")
MAX_FIRST = 100


def _node(issue: GhIssue) -> dict[str, Any]:
    kind = "PullRequest" if issue.is_pr else "Issue"
    return {"__typename": kind, "id": issue.node_id, "number": issue.number}


def answer(
    data: GitHubData, query: str, variables: dict[str, Any], errors: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The `repository` value for `query`, appending to `errors` what GitHub would report."""
    match = _REPOSITORY.search(query)
    assert match is not None
    groups = match.groups()
    half = len(groups) // 2
    owner = value_of(groups[:half], variables)
    name = value_of(groups[half:], variables)
    repo = data.repo(str(owner), str(name)) if owner and name else None
    if repo is None:
        errors.append(
            {
                "type": "NOT_FOUND",
                "path": ["repository"],
                "message": f"Could not resolve to a Repository with the name '{owner}/{name}'.",
            }
        )
        return None
    out: dict[str, Any] = {"__typename": "Repository"}
    for connection, args in _CONNECTION.findall(query):
        first = value_of(_group(_FIRST, args), variables)
        after = value_of(_group(_AFTER, args), variables)
        if not isinstance(first, int) or not 1 <= first <= MAX_FIRST:
            errors.append({"type": "INVALID", "message": f"`first` must be 1..{MAX_FIRST}"})
            continue
        try:
            start = decode_cursor(after) if after else 0
        except GraphQLError as exc:
            errors.append({"type": "INVALID", "message": str(exc)})
            continue
        wanted_pr = connection == "pullRequests"
        live = [i for i in repo.issues if not i.deleted and i.is_pr == wanted_pr]
        chunk = live[start : start + first]
        end = start + len(chunk)
        out[connection] = {
            "totalCount": len(live),
            "pageInfo": {
                "hasNextPage": end < len(live),
                "endCursor": encode_cursor(end) if chunk else None,
            },
            "nodes": [_node(i) for i in chunk],
        }
    for match_ in _LOOKUP.finditer(query):
        alias, kind = match_.group(1), match_.group(2)
        number = value_of(match_.groups()[2:], variables)
        issue = repo.issue(number) if isinstance(number, int) else None
        if issue is None or issue.deleted or issue.is_pr != (kind == "pullRequest"):
            out[alias] = None
            label = "PullRequest" if kind == "pullRequest" else "Issue"
            errors.append(
                {
                    "type": "NOT_FOUND",
                    "path": ["repository", alias],
                    "message": f"Could not resolve to an {label} with the number of {number}.",
                }
            )
        else:
            out[alias] = _node(issue)
    return out


def _group(pattern: re.Pattern[str], text: str) -> tuple[str | None, ...]:
    found = pattern.search(text)
    return found.groups() if found else (None, None, None, None)
