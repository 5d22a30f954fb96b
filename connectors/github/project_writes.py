"""Projects v2 field writes: set or clear one item's field with one GraphQL mutation.

`updateProjectV2ItemFieldValue(input: {projectId, itemId, fieldId, value: {singleSelectOptionId
| text}})` sets, `clearProjectV2ItemFieldValue(input: {projectId, itemId, fieldId})` clears. The
project's id, the field (id, type, options) and the item id of every issue and pull request on it
are read once per writer (one fields query, then the item pages) and kept; a writer lives for
one worker pass. A single-select value must name an existing option: options are never created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.base import ConnectorError, FatalUpstreamError
from connectors.github.client import GitHubClient
from connectors.github.mapping import GitHubSettings, project_lookup_key
from connectors.github.projects import ProjectRef, ProjectsReader
from connectors.writes import WritePacer

_ITEM_IDS_QUERY = """
query($login: String!, $number: Int!, $after: String) {
  owner: %(owner_field)s(login: $login) {
    projectV2(number: $number) {
      items(first: %(per_page)d, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id
          content {
            __typename
            ... on Issue { number repository { nameWithOwner } }
            ... on PullRequest { number repository { nameWithOwner } }
          }
        }
      }
    }
  }
  rateLimit { cost limit remaining resetAt }
}
"""

SET_MUTATION = """
mutation($projectId: ID!, $itemId: ID!, $fieldId: ID!, $value: ProjectV2FieldValue!) {
  updateProjectV2ItemFieldValue(
    input: {projectId: $projectId, itemId: $itemId, fieldId: $fieldId, value: $value}
  ) { projectV2Item { id } }
}
"""

CLEAR_MUTATION = """
mutation($projectId: ID!, $itemId: ID!, $fieldId: ID!) {
  clearProjectV2ItemFieldValue(
    input: {projectId: $projectId, itemId: $itemId, fieldId: $fieldId}
  ) { projectV2Item { id } }
}
"""


@dataclass
class ProjectField:
    """What a write needs: the project id, the field, and item ids by issue key."""

    project_id: str
    field_id: str
    data_type: str
    options: dict[str, str] = field(default_factory=dict)  # option name → option id
    items: dict[str, str] = field(default_factory=dict)  # lookup key → item id


class ProjectFieldWriter:
    """Sets one named field on project items; lookups are cached for the writer's life."""

    def __init__(self, client: GitHubClient, pacer: WritePacer) -> None:
        self.client = client
        self.pacer = pacer
        self._fields: dict[tuple[ProjectRef, str], ProjectField | ConnectorError] = {}

    async def lookup(self, ref: ProjectRef, name: str) -> ProjectField:
        cached = self._fields.get((ref, name))
        if isinstance(cached, ProjectField):
            return cached
        if cached is not None:
            raise cached  # a lookup that failed is not repeated by this writer
        try:
            result = await self._lookup(ref, name)
        except ConnectorError as exc:
            self._fields[(ref, name)] = exc
            raise
        self._fields[(ref, name)] = result
        return result

    async def _lookup(self, ref: ProjectRef, name: str) -> ProjectField:
        described = await ProjectsReader(self.client, GitHubSettings()).describe(ref)
        found = next((f for f in described["fields"] if f.get("name") == name), None)
        if found is None:
            raise FatalUpstreamError(f"{ref.label} has no field named {name!r}")
        if found.get("dataType") not in ("SINGLE_SELECT", "TEXT"):
            raise FatalUpstreamError(
                f"{ref.label} field {name!r} is {found.get('dataType')}, not single select or text"
            )
        return ProjectField(
            project_id=str(described["id"]),
            field_id=str(found["id"]),
            data_type=str(found["dataType"]),
            options={o["name"]: o["id"] for o in found.get("options") or []},
            items=await self._item_ids(ref),
        )

    async def _item_ids(self, ref: ProjectRef) -> dict[str, str]:
        reader = ProjectsReader(self.client, GitHubSettings())
        return {key: str(item["id"]) async for key, item in reader.items(ref, _ITEM_IDS_QUERY)}

    async def write(self, ref: ProjectRef, name: str, key: str, value: str | None) -> bool:
        """Set the field of `key`'s item to `value` (an option's name or text); None clears.

        False, with nothing sent, when the issue is not an item of the project (no field).
        """
        target = await self.lookup(ref, name)
        repo, _, number = key.rpartition("#")
        item_id = (
            target.items.get(project_lookup_key(repo, int(number))) if number.isdigit() else None
        )
        if item_id is None:
            return False
        ids: dict[str, Any] = {
            "projectId": target.project_id,
            "itemId": item_id,
            "fieldId": target.field_id,
        }
        if value is None:
            query, variables = CLEAR_MUTATION, ids
        elif target.data_type == "TEXT":
            query, variables = SET_MUTATION, {**ids, "value": {"text": value}}
        else:
            option = target.options.get(value)
            if option is None:
                raise FatalUpstreamError(
                    f"{ref.label} field {name!r} has no option {value!r}; add it to the project"
                )
            query, variables = SET_MUTATION, {**ids, "value": {"singleSelectOptionId": option}}
        async with self.pacer:
            await self.client.graphql(query, variables, context=key)
        return True
