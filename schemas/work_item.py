"""The canonical work item every connector produces and the store consumes."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.enums import StatusCategory


class WorkItemIn(BaseModel):
    """One upstream issue, epic, sub-task or pull request, mapped to the canonical shape.

    Identity is `(source, external_id)`; `external_id` is the upstream's immutable id (Jira issue
    id, GitHub `node_id`). The parent is given by `parent_external_id` when the upstream knows it,
    else by `parent_key` (resolved within the same source).
    """

    model_config = ConfigDict(frozen=False, extra="forbid")

    external_id: str
    key: str
    kind: str
    title: str
    status: str
    status_category: StatusCategory
    parent_external_id: str | None = None
    parent_key: str | None = None
    project: str | None = None
    issue_type: str | None = None
    labels: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)
    milestone: str | None = None
    sprint: str | None = None
    fix_versions: list[str] = Field(default_factory=list)
    assignee: str | None = None
    assignee_name: str | None = None
    estimate: float | None = None
    url: str | None = None
    upstream_created_at: datetime | None = None
    upstream_updated_at: datetime
    resolved_at: datetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict)
