"""Loop guard: rules must not test the labels write-back writes.

A rule matching `initiative:a` that links elsewhere would move the item, whose new label would
stop the rule matching, and so on for ever. Such rules are refused while write-back uses that
prefix, and write-back is refused while such a rule exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.api.write_back import WriteBackConfig
from schemas.tables import MappingRule
from service.errors import Unprocessable
from service.writeback.desired import enabled_configs


def _prefixes(configs: Iterable[WriteBackConfig]) -> set[str]:
    found: set[str] = set()
    for config in configs:
        found.add(config.label_prefix)
        if config.key_result_prefix:
            found.add(config.key_result_prefix)
    return found


def _written_labels(conditions: Mapping[str, Any], prefixes: set[str]) -> list[str]:
    labels = [*(conditions.get("labels_any") or []), *(conditions.get("labels_all") or [])]
    return [label for label in labels if str(label).startswith(tuple(prefixes))]


async def check_rule(session: AsyncSession, conditions: Mapping[str, Any]) -> None:
    """Refuse rule conditions on labels that write-back writes (422)."""
    prefixes = _prefixes((await enabled_configs(session)).values())
    if not prefixes:
        return
    found = _written_labels(conditions, prefixes)
    if found:
        raise Unprocessable(
            f"conditions test {found[0]!r}, a label write-back writes; a rule on it could loop",
            errors=[
                {"loc": ["body", "conditions"], "msg": "write-back label", "type": "value_error"}
            ],
        )


async def check_config(session: AsyncSession, config: WriteBackConfig) -> None:
    """Refuse turning write-back on while a rule tests labels with its prefixes (422)."""
    if not config.enabled:
        return
    prefixes = _prefixes([config])
    rules = (await session.execute(select(MappingRule))).scalars()
    clashing = sorted(r.id for r in rules if r.id and _written_labels(r.conditions, prefixes))
    if clashing:
        raise Unprocessable(
            f"mapping rules {clashing} test labels starting with this write-back's prefix; "
            "change them or choose another prefix",
            errors=[
                {"loc": ["body", "label_prefix"], "msg": "used by rules", "type": "value_error"}
            ],
        )
