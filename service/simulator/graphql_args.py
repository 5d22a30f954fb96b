"""What the simulator's GraphQL answers share: argument values and cursors."""

from __future__ import annotations

import base64
import re
from typing import Any

# One argument: a string literal, a `$variable`, an integer or null (four groups).
_ARG = r'(?:"((?:[^"\\]|\\.)*)"|\$(\w+)|(\d+)|(null))'


class GraphQLError(Exception):
    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


def _arg(match: re.Match[str] | None, variables: dict[str, Any]) -> Any:
    if match is None:
        return None
    return value_of(match.groups(), variables)


def value_of(groups: tuple[str | None, ...], variables: dict[str, Any]) -> Any:
    """The value of one `_ARG` match's groups: a string, `$variable`, integer or null."""
    literal, var, number, null = groups
    if var is not None:
        return variables.get(var)
    if number is not None:
        return int(number)
    if null is not None:
        return None
    return literal


def encode_cursor(position: int) -> str:
    return base64.b64encode(f"cursor:v2:{position}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
        prefix, _, pos = raw.rpartition(":")
        if prefix != "cursor:v2":
            raise ValueError(raw)
        return int(pos)
    except ValueError:
        raise GraphQLError(f'`"{cursor}"` does not appear to be a valid cursor.') from None
