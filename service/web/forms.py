"""Form and query input for pages: validation errors by field, what was typed kept as typed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from service.errors import ServiceError

M = TypeVar("M", bound=BaseModel)


def values_of(
    data: Mapping[str, Any], *, drop: tuple[str, ...] = ("csrf_token",)
) -> dict[str, str]:
    """The submitted text fields, as typed (for re-filling a form that failed)."""
    return {k: v for k, v in data.items() if isinstance(v, str) and k not in drop}


def _message(error: Mapping[str, Any]) -> str:
    msg = str(error.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")


def errors_by_field(
    errors: Sequence[Mapping[str, Any]], *, skip: tuple[str, ...] = ()
) -> dict[str, str]:
    """First message per field; a location's leading `body`/`query`/`path` part is skipped."""
    found: dict[str, str] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if str(p) not in ("body", "query", "path")]
        loc = [p for p in loc if p not in skip]
        field = loc[0] if loc else "__all__"
        found.setdefault(field, _message(error))
    return found


def parse(model: type[M], data: Mapping[str, Any]) -> tuple[M | None, dict[str, str]]:
    """The model built from text fields (blank means absent), or the errors by field."""
    cleaned = {k: v for k, v in values_of(data).items() if v.strip() != ""}
    try:
        return model.model_validate(cleaned), {}
    except ValidationError as exc:
        return None, errors_by_field([dict(e) for e in exc.errors()])


def service_errors(exc: ServiceError) -> dict[str, str]:
    """A domain error's field errors if it names fields, else its detail under `__all__`."""
    if exc.errors:
        return errors_by_field(exc.errors)
    return {"__all__": exc.detail}
