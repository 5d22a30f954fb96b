"""Checks shared by the portfolio entities' partial updates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from service.errors import Unprocessable


def reject_nulls(changes: dict[str, Any], fields: Iterable[str]) -> None:
    """A PATCH may omit a required field but not set it to null."""
    for field in fields:
        if field in changes and changes[field] is None:
            raise Unprocessable(
                f"{field} cannot be null",
                errors=[{"loc": ["body", field], "msg": "may not be null", "type": "value_error"}],
            )


def check_dates(start: date | None, target: date | None) -> None:
    if start and target and target < start:
        raise Unprocessable(
            "target_date must not be before start_date",
            errors=[{"loc": ["body", "target_date"], "msg": "before start", "type": "value_error"}],
        )
