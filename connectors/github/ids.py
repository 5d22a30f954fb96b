"""Which issues and pull requests a repository still has, over GraphQL (no REST quota).

`live_ids` lists a repository's ids (issues by node id, pull requests by number: the two
external id forms of `mapping.external_id_for`) 100 per query; `gone` asks after given items by
number, 100 per query, and returns those the repository no longer has. Both select `rateLimit`,
so the `graphql` budget is tracked beside the REST `core` one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from connectors.base import FatalUpstreamError
from connectors.github.client import GitHubClient
from connectors.github.mapping import project_lookup_key

PAGE_SIZE = 100
_RATE_LIMIT = "rateLimit { cost limit remaining resetAt }"
_LIST_QUERY = """
query($owner: String!, $name: String!, $after: String) {
  repository(owner: $owner, name: $name) {
    %(connection)s(first: %(first)d, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { %(select)s }
    }
  }
  %(rate_limit)s
}
"""
# The connection, what each node gives, and how that becomes an external id.
_CONNECTIONS = {
    "issues": "id",
    "pullRequests": "number",
}


def _repo_parts(repo: str) -> tuple[str, str]:
    owner, _, name = repo.partition("/")
    return owner, name


def _repository(data: Any, context: str) -> dict[str, Any]:
    repository = data.get("repository") if isinstance(data, dict) else None
    if not isinstance(repository, dict):
        raise FatalUpstreamError(f"{context}: the repository was not found over GraphQL")
    return repository


async def live_ids(client: GitHubClient, repo: str) -> set[str]:
    """Every issue's and pull request's external id in `repo`: ceil(issues/100) +
    ceil(pull requests/100) GraphQL queries, each one point."""
    owner, name = _repo_parts(repo)
    context = f"repo {repo}"
    ids: set[str] = set()
    for connection, select in _CONNECTIONS.items():
        query = _LIST_QUERY % {
            "connection": connection,
            "first": PAGE_SIZE,
            "select": select,
            "rate_limit": _RATE_LIMIT,
        }
        after: str | None = None
        while True:
            data = await client.graphql(
                query, {"owner": owner, "name": name, "after": after}, context=context
            )
            page = _repository(data, context).get(connection) or {}
            for node in page.get("nodes") or []:
                if isinstance(node, dict) and node.get(select) is not None:
                    value = node[select]
                    ids.add(
                        str(value)
                        if connection == "issues"
                        else f"pr:{project_lookup_key(repo, value)}"
                    )
            info = page.get("pageInfo") or {}
            cursor = info.get("endCursor")
            if not info.get("hasNextPage") or not cursor or cursor == after:
                break
            after = cursor
    return ids


def number_of(key: str, repo: str) -> int | None:
    """The number in a stored key `owner/repo#N` of `repo` (None for another repository's)."""
    prefix = f"{repo}#"
    if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
        return None
    return int(key[len(prefix) :])


async def gone(client: GitHubClient, repo: str, items: Iterable[tuple[str, int, bool]]) -> set[str]:
    """Of `(external_id, number, is_pull_request)` in `repo`, the external ids GitHub no longer
    has there (deleted, or transferred away): ceil(len/100) GraphQL queries, each one point."""
    owner, name = _repo_parts(repo)
    context = f"repo {repo}"
    wanted = list(items)
    missing: set[str] = set()
    for start in range(0, len(wanted), PAGE_SIZE):
        chunk: Sequence[tuple[str, int, bool]] = wanted[start : start + PAGE_SIZE]
        fields = " ".join(
            f"c{i}: {'pullRequest' if is_pr else 'issue'}(number: {number}) {{ number }}"
            for i, (_external_id, number, is_pr) in enumerate(chunk)
        )
        query = (
            "query($owner: String!, $name: String!) {\n"
            f"  repository(owner: $owner, name: $name) {{ {fields} }}\n"
            f"  {_RATE_LIMIT}\n}}"
        )
        data = await client.graphql(
            query, {"owner": owner, "name": name}, context=context, partial_not_found=True
        )
        repository = _repository(data, context)
        for i, (external_id, _number, _is_pr) in enumerate(chunk):
            if not isinstance(repository.get(f"c{i}"), dict):
                missing.add(external_id)
    return missing
