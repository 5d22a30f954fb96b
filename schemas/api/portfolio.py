"""API models for objectives, key results and initiatives."""

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.api.common import Id, NoNul
from schemas.enums import InitiativeStatus, ProgressSource


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Timestamps(BaseModel):
    id: int
    created_at: datetime
    updated_at: datetime


class ObjectiveBase(_Model):
    title: Annotated[str, NoNul] = Field(min_length=1, max_length=500)
    description: Annotated[str | None, NoNul] = Field(default=None, max_length=20000)
    parent_id: Id | None = None
    owner: Annotated[str | None, NoNul] = Field(default=None, max_length=200)
    weight: float = Field(default=1.0, ge=0, le=1000)


class ObjectiveCreate(ObjectiveBase):
    pass


class ObjectiveUpdate(_Model):
    title: Annotated[str | None, NoNul] = Field(default=None, min_length=1, max_length=500)
    description: Annotated[str | None, NoNul] = Field(default=None, max_length=20000)
    parent_id: Id | None = None
    owner: Annotated[str | None, NoNul] = Field(default=None, max_length=200)
    weight: float | None = Field(default=None, ge=0, le=1000)


class ObjectivePublic(ObjectiveBase, _Timestamps):
    model_config = ConfigDict(from_attributes=True)


_METRIC = Field(default=None, allow_inf_nan=False, ge=-1e15, le=1e15)


class KeyResultBase(_Model):
    objective_id: Id
    title: Annotated[str, NoNul] = Field(min_length=1, max_length=500)
    start: float = Field(default=0.0, allow_inf_nan=False, ge=-1e15, le=1e15)
    target: float = Field(default=1.0, allow_inf_nan=False, ge=-1e15, le=1e15)
    current: float = Field(default=0.0, allow_inf_nan=False, ge=-1e15, le=1e15)
    unit: Annotated[str | None, NoNul] = Field(default=None, max_length=50)
    progress_source: ProgressSource = ProgressSource.manual
    weight: float = Field(default=1.0, ge=0, le=1000)
    start_date: date | None = None
    target_date: date | None = None


class KeyResultCreate(KeyResultBase):
    @model_validator(mode="after")
    def _check(self) -> "KeyResultCreate":
        if self.start_date and self.target_date and self.target_date < self.start_date:
            raise ValueError("target_date must not be before start_date")
        return self


class KeyResultUpdate(_Model):
    objective_id: Id | None = None
    title: Annotated[str | None, NoNul] = Field(default=None, min_length=1, max_length=500)
    start: float | None = _METRIC
    target: float | None = _METRIC
    current: float | None = _METRIC
    unit: Annotated[str | None, NoNul] = Field(default=None, max_length=50)
    progress_source: ProgressSource | None = None
    weight: float | None = Field(default=None, ge=0, le=1000)
    start_date: date | None = None
    target_date: date | None = None


class KeyResultPublic(KeyResultBase, _Timestamps):
    model_config = ConfigDict(from_attributes=True)


class InitiativeBase(_Model):
    title: Annotated[str, NoNul] = Field(min_length=1, max_length=500)
    description: Annotated[str | None, NoNul] = Field(default=None, max_length=20000)
    owner: Annotated[str | None, NoNul] = Field(default=None, max_length=200)
    status: InitiativeStatus = InitiativeStatus.proposed
    start_date: date | None = None
    target_date: date | None = None
    key_result_ids: list[Id] = Field(default_factory=list, max_length=1000)


class InitiativeCreate(InitiativeBase):
    @model_validator(mode="after")
    def _check(self) -> "InitiativeCreate":
        if self.start_date and self.target_date and self.target_date < self.start_date:
            raise ValueError("target_date must not be before start_date")
        return self


class InitiativeUpdate(_Model):
    title: Annotated[str | None, NoNul] = Field(default=None, min_length=1, max_length=500)
    description: Annotated[str | None, NoNul] = Field(default=None, max_length=20000)
    owner: Annotated[str | None, NoNul] = Field(default=None, max_length=200)
    status: InitiativeStatus | None = None
    start_date: date | None = None
    target_date: date | None = None
    key_result_ids: list[Id] | None = Field(default=None, max_length=1000)


class InitiativePublic(InitiativeBase, _Timestamps):
    pass
