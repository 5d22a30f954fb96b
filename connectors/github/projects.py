"""Projects v2 (GraphQL): read item field values so the issue mapping can apply them.

Merge rule: before the issues streams run, every item of every project in scope is read into a
map keyed by `project_lookup_key(owner/repo, number)` (the same key for issues and pull requests,
whose REST and GraphQL node ids differ). The REST mapping applies these values: the board's
Status sets the status category only while the issue or pull request is open (closed state always
wins), and the `project_estimate_field` number is the estimate (before any estimate label). When
an item sits on several projects, the first project in the scope that sets a value wins.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import FatalUpstreamError
from connectors.github.client import PER_PAGE, GitHubClient
from connectors.github.mapping import GitHubSettings, ProjectValues, project_lookup_key

_ITEMS_QUERY = """
query($login: String!, $number: Int!, $after: String) {
  owner: %(owner_field)s(login: $login) {
    projectV2(number: $number) {
      id
      title
      items(first: %(per_page)d, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id
          content {
            __typename
            ... on Issue { id number repository { nameWithOwner } }
            ... on PullRequest { id number repository { nameWithOwner } }
          }
          fieldValues(first: 30) {
            nodes {
              __typename
              ... on ProjectV2ItemFieldSingleSelectValue { name field { ...F } }
              ... on ProjectV2ItemFieldNumberValue { number field { ...F } }
              ... on ProjectV2ItemFieldTextValue { text field { ...F } }
              ... on ProjectV2ItemFieldDateValue { date field { ...F } }
              ... on ProjectV2ItemFieldIterationValue { title startDate duration field { ...F } }
            }
          }
        }
      }
    }
  }
  rateLimit { cost limit remaining resetAt }
}
fragment F on ProjectV2FieldCommon { name }
"""

_FIELDS_QUERY = """
query($login: String!, $number: Int!) {
  owner: %(owner_field)s(login: $login) {
    projectV2(number: $number) {
      id
      title
      fields(first: 50) {
        nodes {
          __typename
          ... on ProjectV2FieldCommon { id name dataType }
          ... on ProjectV2SingleSelectField { options { id name } }
        }
      }
    }
  }
  rateLimit { cost limit remaining resetAt }
}
"""

_OWNER_FIELDS = {"organization": "organization", "user": "user"}


@dataclass(frozen=True)
class ProjectRef:
    owner: str
    owner_type: str
    number: int

    @classmethod
    def from_scope(cls, entry: Mapping[str, Any]) -> ProjectRef:
        owner_type = entry.get("owner_type", "organization")
        if owner_type not in _OWNER_FIELDS:
            raise ValueError(f"project owner_type must be organization or user, not {owner_type!r}")
        return cls(owner=str(entry["owner"]), owner_type=owner_type, number=int(entry["number"]))

    @property
    def label(self) -> str:
        return f"project {self.owner}/{self.number}"


def _field_value(node: Mapping[str, Any]) -> Any:
    kind = node.get("__typename")
    if kind == "ProjectV2ItemFieldSingleSelectValue":
        return node.get("name")
    if kind == "ProjectV2ItemFieldNumberValue":
        return node.get("number")
    if kind == "ProjectV2ItemFieldTextValue":
        return node.get("text")
    if kind == "ProjectV2ItemFieldDateValue":
        return node.get("date")
    if kind == "ProjectV2ItemFieldIterationValue":
        return {k: node.get(k) for k in ("title", "startDate", "duration")}
    return None


def item_values(item: Mapping[str, Any], settings: GitHubSettings) -> ProjectValues:
    """The named field values of one project item (`Status`, the estimate field, others)."""
    fields: dict[str, Any] = {}
    for node in (item.get("fieldValues") or {}).get("nodes") or []:
        name = ((node or {}).get("field") or {}).get("name")
        if name:
            fields[name] = _field_value(node)
    estimate = fields.get(settings.project_estimate_field)
    status = fields.get("Status")
    return ProjectValues(
        status=status if isinstance(status, str) else None,
        estimate=float(estimate) if isinstance(estimate, int | float) else None,
        fields=fields,
    )


def _project(data: Mapping[str, Any], ref: ProjectRef) -> Mapping[str, Any]:
    project = (data.get("owner") or {}).get("projectV2")
    if not project:
        raise FatalUpstreamError(f"{ref.label}: not found or not visible to this token")
    return project


class ProjectsReader:
    """Reads Projects v2 items page by page (`first: 100`, `after: endCursor`)."""

    def __init__(self, client: GitHubClient, settings: GitHubSettings) -> None:
        self.client = client
        self.settings = settings

    async def read_values(self, refs: list[ProjectRef]) -> dict[str, ProjectValues]:
        values: dict[str, ProjectValues] = {}
        for ref in refs:
            for key, found in (await self.read_project(ref)).items():
                values.setdefault(key, found)
        return values

    async def read_project(self, ref: ProjectRef) -> dict[str, ProjectValues]:
        values: dict[str, ProjectValues] = {}
        async for key, item in self.items(ref, _ITEMS_QUERY):
            values[key] = item_values(item, self.settings)
        return values

    async def items(
        self, ref: ProjectRef, query: str
    ) -> AsyncIterator[tuple[str, Mapping[str, Any]]]:
        """(lookup key, item) for each issue and pull request on the project, page by page;
        `query` has `%(owner_field)s` and `%(per_page)d` slots and an `$after` variable."""
        query = query % {"owner_field": _OWNER_FIELDS[ref.owner_type], "per_page": PER_PAGE}
        after: str | None = None
        seen: set[str] = set()
        while True:
            variables = {"login": ref.owner, "number": ref.number, "after": after}
            data = await self.client.graphql(query, variables, context=ref.label)
            items = _project(data, ref).get("items") or {}
            for item in items.get("nodes") or []:
                content = (item or {}).get("content") or {}
                if content.get("__typename") not in ("Issue", "PullRequest"):
                    continue  # draft issues and REDACTED items have no repository item
                repo = (content.get("repository") or {}).get("nameWithOwner")
                if repo and content.get("number") is not None:
                    yield project_lookup_key(repo, int(content["number"])), item
            page = items.get("pageInfo") or {}
            after = page.get("endCursor")
            if not page.get("hasNextPage") or not after:
                return
            if after in seen:
                raise FatalUpstreamError(f"{ref.label}: pagination loop at cursor {after!r}")
            seen.add(after)

    async def describe(self, ref: ProjectRef) -> dict[str, Any]:
        """Project id, title and fields (ids, types, single-select options) for the source view."""
        query = _FIELDS_QUERY % {"owner_field": _OWNER_FIELDS[ref.owner_type]}
        data = await self.client.graphql(
            query, {"login": ref.owner, "number": ref.number}, context=ref.label
        )
        project = _project(data, ref)
        fields = [
            {k: node[k] for k in ("id", "name", "dataType", "options") if k in node}
            for node in (project.get("fields") or {}).get("nodes") or []
            if node
        ]
        return {"id": project.get("id"), "title": project.get("title"), "fields": fields}
