"""API models for write-back: per-source settings, the preview and the write log."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.api.common import NoNul

# GitHub label names allow spaces, Jira labels do not: a prefix fits both.
LabelPrefix = Annotated[
    str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]*$"), NoNul
]


class WriteBackPolicy(StrEnum):
    store_wins = "store_wins"
    upstream_wins = "upstream_wins"


class ProjectFieldTarget(BaseModel):
    """A GitHub Projects v2 field that shows each item's initiative (single select or text)."""

    model_config = ConfigDict(extra="forbid")

    owner: Annotated[str, Field(min_length=1, max_length=100), NoNul]
    owner_type: Literal["organization", "user"] = "organization"
    number: Annotated[int, Field(ge=1)]
    field: Annotated[str, Field(min_length=1, max_length=100), NoNul] = Field(
        description="The field's name; a single-select option must already exist per title."
    )


class WriteBackConfig(BaseModel):
    """Write-back of a source (off by default). Each linked item gets the label
    `<label_prefix><initiative slug>` (and `<key_result_prefix><key result slug>` when set)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    policy: WriteBackPolicy = WriteBackPolicy.store_wins
    label_prefix: LabelPrefix = "initiative:"
    label_color: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{6}$")] = "5319e7"
    key_result_prefix: LabelPrefix | None = None
    jira_property: bool = Field(
        default=False,
        description="Jira only: also set the issue entity property `portfolio` to "
        '`{"initiatives": [slugs], "key_results": [slugs], "by": "portfolio-sync"}`.',
    )
    jira_custom_field: Annotated[str, Field(pattern=r"^customfield_[0-9]{1,12}$")] | None = Field(
        default=None,
        description="Jira only: also set this custom field (a text or select field of the site, "
        "as the source's discovery lists it) to each item's initiative title.",
    )
    project_field: ProjectFieldTarget | None = Field(
        default=None,
        description="GitHub only: also set this Projects v2 field of each item to its "
        "initiative's title (cleared when it has none).",
    )


class WriteBackWritePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source_id: int
    work_item_id: int | None
    item_key: str
    field: str
    operation: str = Field(
        description="add, remove, create_label (labels); set or clear (property, fields)"
    )
    value: str
    before: list[str]
    after: list[str]
    status: str = Field(description="done or failed")
    error: str | None
    created_at: datetime


class WriteBackPreviewItem(BaseModel):
    work_item_id: int
    key: str
    field: str
    add: list[str]
    remove: list[str]


class WriteBackPreview(BaseModel):
    source_id: int
    enabled: bool
    adds: int
    removes: int
    items: list[WriteBackPreviewItem]
