"""Hypothesis strategies that break real payloads one field at a time, and a well-formedness check.

A mutation picks a path into a real JSON document (a webhook fixture, an upstream page) and
replaces the value there with an arbitrary JSON value, deletes it, or swaps in a string with
hostile characters. Several mutations may stack. The stored-item check says what "corrupted"
means for the tests: an identity or text field that is empty or is a stringified non-text value.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from hypothesis import strategies as st

from schemas.enums import StatusCategory
from schemas.tables import WorkItem

Path = tuple[str | int, ...]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"), max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
# What a non-text value looks like once stringified: `None`, `True`, `{'a': 1}`, `[None]`.
STRINGIFIED = re.compile(r"^(None|True|False|\{.*\}|\[.*\])$", re.DOTALL)
# Text a careful reader still takes: odd characters, long, date-like, empty. (Never text shaped
# like a stringified value, so that finding one in the store means a mapping stringified.)
hostile_text = (
    st.sampled_from(["", " ", "null", "0", "-1", "2019-13-45T99:99:99Z", "\u202e\ud83d\ude00"])
    | st.just("z" * 3000)
    | st.text(st.characters(codec="utf-8"), max_size=40)
).filter(lambda text: not STRINGIFIED.match(text))


def paths(value: Any, prefix: Path = ()) -> list[Path]:
    """Every path into a JSON value (the first three entries of each list), root excluded."""
    found: list[Path] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:3]):
            found.append((*prefix, index))
            found += paths(child, (*prefix, index))
    return found


def _apply(document: Any, path: Path, operation: str, value: Any) -> None:
    node = document
    for step in path[:-1]:
        node = node[step]
    last = path[-1]
    if operation == "delete":
        del node[last]
    else:
        node[last] = value


@st.composite
def mutated(draw: st.DrawFn, document: Any, max_mutations: int = 3) -> tuple[Any, list[str]]:
    """A deep copy of `document` with 1..`max_mutations` fields broken, and what was done."""
    copied = copy.deepcopy(document)
    done: list[str] = []
    for _ in range(draw(st.integers(1, max_mutations))):
        candidates = paths(copied)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        operation = draw(st.sampled_from(["replace", "replace", "text", "delete"]))
        value = None
        if operation == "replace":
            value = draw(json_values)
        elif operation == "text":
            value = draw(hostile_text)
        _apply(copied, path, operation, value)
        done.append(f"{operation} {'.'.join(map(str, path))} = {value!r}"[:120])
    return copied, done


GITHUB_KEY = re.compile(r"^[^/\s#]+/[^/\s#]+#[1-9][0-9]*$")


def assert_well_formed(item: WorkItem) -> None:
    """A stored item has a text identity, text fields that are not stringified non-text values,
    a known status category, an upstream time and a finite estimate."""
    assert isinstance(item.external_id, str) and item.external_id.strip(), item
    assert isinstance(item.key, str) and item.key.strip(), item
    assert isinstance(item.title, str), item
    for text in (item.external_id, item.key, item.title, item.status, *(item.labels or [])):
        assert isinstance(text, str) and not STRINGIFIED.match(text), (item.key, text)
    if item.url and "github.com" in item.url:
        assert GITHUB_KEY.match(item.key), item.key
    assert item.status_category in {c.value for c in StatusCategory}, item
    assert item.upstream_updated_at is not None, item
    assert item.estimate is None or math.isfinite(item.estimate), item
