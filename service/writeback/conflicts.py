"""People's upstream edits of written labels, and the source's policy for them.

The one upsert calls `watch` before it writes a batch and `LabelWatch.settle` after it. Only
labels of write-back (their prefix) that changed between the stored and the incoming item
count, and they are told apart from our own writes by value: a label that appears and is
desired, or disappears and is not desired, is our write (or its echo) and changes nothing.

- `store_wins`: a desired label a person removed is written again, once; removed a second
  time, the row is left in `conflict` and nothing more is written. Labels a person adds are
  left alone (never remove a label we did not set).
- `upstream_wins`: a removed label becomes a manual exclusion of its target, an added label a
  manual link, both with provenance `upstream:<actor>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.write_back import WriteBackConfig, WriteBackPolicy
from schemas.enums import LinkTarget
from schemas.tables import WebhookDelivery, WorkItem, WriteBackState
from schemas.work_item import WorkItemIn
from service.writeback.desired import (
    FIELD,
    all_target_names,
    enabled_configs,
    targets_by_label,
)
from service.writeback.metrics import CONFLICTS
from service.writeback.outbox import CONFLICT, PENDING

_CHUNK = 500


def _ours(config: WriteBackConfig, label: str) -> bool:
    prefixes = [
        config.label_prefix,
        *([config.key_result_prefix] if config.key_result_prefix else []),
    ]
    return label.startswith(tuple(prefixes))


@dataclass
class LabelWatch:
    source_id: int
    config: WriteBackConfig
    # external_id → (item id, stored labels of ours, incoming labels of ours)
    items: dict[str, tuple[int, set[str], set[str]]]

    async def settle(
        self,
        session: AsyncSession,
        changed_ids: Sequence[int],
        causes: Mapping[str, str],
        cause: str,
    ) -> None:
        changed = set(changed_ids)
        for external_id, (item_id, old, new) in self.items.items():
            if item_id in changed and old != new:
                await self._edited(session, item_id, old, new, causes.get(external_id, cause))

    async def _edited(
        self, session: AsyncSession, item_id: int, old: set[str], new: set[str], cause: str
    ) -> None:
        state = (
            await session.execute(
                select(WriteBackState).where(
                    col(WriteBackState.work_item_id) == item_id, col(WriteBackState.field) == FIELD
                )
            )
        ).scalar_one()
        removed = sorted(label for label in old - new if label in state.desired)
        added = sorted(label for label in new - old if label not in state.desired)
        if not removed and not added:
            return
        CONFLICTS.labels(str(self.source_id), self.config.policy.value).inc()
        actor = await _actor(session, self.source_id, cause)
        state.written = sorted(set(state.written) - set(removed))
        state.owned = sorted(set(state.owned) - set(removed))
        if self.config.policy is WriteBackPolicy.store_wins:
            again = [label for label in removed if label in state.reasserted]
            if again:
                state.status = CONFLICT
                state.error = f"{', '.join(again)} removed upstream again by {actor}; left as is"
            elif removed:
                state.reasserted = sorted(set(state.reasserted) | set(removed))
                state.status = PENDING
            session.add(state)
            await session.flush()
            return
        by_label = targets_by_label(self.config, await all_target_names(session))
        state.written = sorted(set(state.written) | {label for label in added if label in by_label})
        session.add(state)
        await session.flush()
        from service.portfolio.links import put_manual  # late: links import the rules

        for label, exclude in [*((x, True) for x in removed), *((x, False) for x in added)]:
            target = by_label.get(label)
            if target is None:
                continue
            await put_manual(
                session,
                LinkTarget(target[0]),
                target[1],
                item_id,
                exclude=exclude,
                author=actor,
                origin="upstream",
            )


async def _actor(session: AsyncSession, source_id: int, cause: str) -> str:
    """Who edited: the webhook's sender (GitHub login, Jira account id), else `unknown`."""
    if not cause.startswith("webhook:"):
        return "unknown"
    payload = await session.scalar(
        select(WebhookDelivery.payload).where(  # type: ignore[call-overload]
            col(WebhookDelivery.source_id) == source_id,
            col(WebhookDelivery.delivery_id) == cause.removeprefix("webhook:"),
        )
    )
    payload = payload or {}
    actor = (payload.get("sender") or {}).get("login") or (payload.get("user") or {}).get(
        "accountId"
    )
    return str(actor) if actor else "unknown"


async def watch(
    session: AsyncSession, source_id: int, items: Sequence[WorkItemIn]
) -> LabelWatch | None:
    """Before an upsert: the stored labels of ours of incoming items that have outbox rows."""
    configs = await enabled_configs(session, [source_id])
    config = configs.get(source_id)
    if config is None:
        return None
    incoming = {item.external_id: item for item in items}
    ids = sorted(incoming)
    found: dict[str, tuple[int, set[str], set[str]]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = await session.execute(
            select(WorkItem.id, WorkItem.external_id, WorkItem.labels)  # type: ignore[call-overload]
            .join(WriteBackState, col(WriteBackState.work_item_id) == WorkItem.id)
            .where(
                col(WorkItem.source_id) == source_id,
                col(WorkItem.external_id).in_(ids[start : start + _CHUNK]),
                col(WriteBackState.field) == FIELD,
            )
        )
        for item_id, external_id, labels in rows:
            old = {label for label in labels or [] if _ours(config, label)}
            new = {label for label in incoming[external_id].labels if _ours(config, label)}
            found[external_id] = (item_id, old, new)
    return LabelWatch(source_id, config, found) if found else None
