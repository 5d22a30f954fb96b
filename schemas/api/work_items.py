"""API model for a synced work item (read-only)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas.enums import StatusCategory


class WorkItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source_id: int
    external_id: str
    key: str
    kind: str
    title: str
    status: str
    status_category: StatusCategory
    parent_id: int | None
    parent_key: str | None
    project: str | None
    issue_type: str | None
    labels: list[str]
    components: list[str]
    milestone: str | None
    sprint: str | None
    fix_versions: list[str]
    assignee: str | None
    assignee_name: str | None
    estimate: float | None
    url: str | None
    upstream_created_at: datetime | None
    upstream_updated_at: datetime
    resolved_at: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime
