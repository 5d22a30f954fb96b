"""Shapes shared by every API response."""

from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a cursor-paginated list; pass `next_cursor` back as `?cursor=`."""

    items: list[T]
    next_cursor: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details (`application/problem+json`)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Validation failures: location, message and type per field."
    )


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)
MAX_ID = 2**31 - 1
# Ids as they appear in bodies and paths: positive and within the database's integer range.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[str, Field(min_length=1, max_length=500), NoNul]
OptionalText = Annotated[str | None, Field(default=None, max_length=20000), NoNul]
