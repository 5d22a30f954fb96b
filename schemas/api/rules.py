"""API models for mapping rules: conditions, targets, versions, preview, manual links."""

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.api.common import Id, NoNul
from schemas.enums import LinkTarget, StatusCategory

TITLE_PATTERN_MAX = 200
_Text = Annotated[str, Field(min_length=1, max_length=300), NoNul]
_Names = Annotated[list[_Text], Field(min_length=1, max_length=100)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleConditions(_Model):
    """Every condition given must hold (AND); an absent condition does not constrain."""

    source_id: Id | None = None
    project: _Text | None = Field(
        default=None, description="Jira project key or GitHub `owner/repo`."
    )
    kind: _Text | None = None
    issue_type: _Text | None = None
    labels_any: _Names | None = None
    labels_all: _Names | None = None
    components_any: _Names | None = None
    milestone: _Text | None = None
    parent_key: _Text | None = Field(
        default=None, description="The parent's key, e.g. an epic `PROJ-12`."
    )
    include_descendants: bool = Field(
        default=False, description="With `parent_key`: match at any depth below it."
    )
    status_category: StatusCategory | None = None
    assignee: _Text | None = None
    title_matches: Annotated[str, NoNul] | None = Field(
        default=None,
        max_length=TITLE_PATTERN_MAX,
        description=f"A regular expression searched in the title (at most {TITLE_PATTERN_MAX}).",
    )

    @field_validator("title_matches")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _meaningful(self) -> "RuleConditions":
        if self.include_descendants and self.parent_key is None:
            raise ValueError("include_descendants needs parent_key")
        if not self.model_dump(exclude_none=True, exclude={"include_descendants"}):
            raise ValueError("give at least one condition")
        return self


class RuleTarget(_Model):
    """Exactly one of `initiative_id` and `key_result_id`."""

    initiative_id: Id | None = None
    key_result_id: Id | None = None

    @model_validator(mode="after")
    def _one(self) -> "RuleTarget":
        if (self.initiative_id is None) == (self.key_result_id is None):
            raise ValueError("give exactly one of initiative_id and key_result_id")
        return self

    @property
    def type(self) -> LinkTarget:
        return LinkTarget.initiative if self.initiative_id is not None else LinkTarget.key_result

    @property
    def id(self) -> int:
        value = self.initiative_id if self.initiative_id is not None else self.key_result_id
        assert value is not None
        return value


_Name = Annotated[str, Field(min_length=1, max_length=200), NoNul]
_Priority = Annotated[int, Field(ge=0, le=1_000_000)]


class RuleCreate(_Model):
    name: _Name
    priority: _Priority = 100
    enabled: bool = True
    conditions: RuleConditions
    target: RuleTarget


class RuleUpdate(_Model):
    name: _Name | None = None
    priority: _Priority | None = None
    enabled: bool | None = None
    conditions: RuleConditions | None = None
    target: RuleTarget | None = None


class RulePublic(BaseModel):
    id: int
    name: str
    priority: int
    enabled: bool
    conditions: dict[str, Any]
    target: dict[str, int]
    version: int
    created_at: datetime
    updated_at: datetime


class RuleVersionPublic(BaseModel):
    rule_id: int
    version: int
    snapshot: dict[str, Any]
    created_by: str | None
    created_at: datetime


class RuleReorder(_Model):
    """Rule ids in the wanted order; priorities become 10, 20, 30, … in that order."""

    rule_ids: list[Id] = Field(min_length=1, max_length=10000)


class RulePreviewRequest(_Model):
    """A rule as it would be saved; with `rule_id`, it replaces that rule's current version."""

    rule_id: Id | None = None
    rule: RuleCreate


class PreviewItem(BaseModel):
    work_item_id: int
    key: str
    title: str
    source_id: int
    target_type: str
    target_id: int


class RulePreview(BaseModel):
    linked: int = Field(description="Links that would be added.")
    unlinked: int = Field(description="Links that would be removed.")
    linked_items: list[PreviewItem] = Field(description="The first 50 links added.")
    unlinked_items: list[PreviewItem] = Field(description="The first 50 links removed.")
    evaluated: int = Field(description="Items the rule could affect, evaluated against all rules.")


class ManualLinkRequest(_Model):
    exclude: bool = Field(
        default=False, description="Keep this item out of the target; rules cannot override it."
    )


class LinkPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    work_item_id: int
    target_type: str
    target_id: int
    provenance: str
    rule_id: int | None
    manual: bool
    excluded: bool
    created_at: datetime


class ItemLinkPublic(BaseModel):
    """A link as it counts for rollups: direct (stored) or inherited from an ancestor."""

    work_item_id: int
    target_type: str
    target_id: int
    provenance: str
    via: Literal["direct", "inherited"]
    excluded: bool = False
