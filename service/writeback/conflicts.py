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

The Jira custom field written with the initiative's title (`FieldWatch`) follows the same
policies. Its value is read from the issue's fields in the raw payload (the search asks for
it; Jira's webhooks carry every field); a payload without the field says nothing. A value
that differs from the stored one and is neither the desired nor the written title is a
person's edit: `store_wins` writes the title again, once (a second edit is left in
`conflict`); `upstream_wins` makes a title naming an initiative a manual link to it, and a
cleared value a manual exclusion of the initiative that was written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from schemas.api.write_back import WriteBackConfig, WriteBackPolicy
from schemas.enums import LinkTarget
from schemas.tables import Initiative, WebhookDelivery, WorkItem, WriteBackState
from schemas.work_item import WorkItemIn
from service.writeback.desired import (
    CUSTOM_FIELD,
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


class _Watch:
    """What an upsert batch holds of our written values, settled once the batch is written:
    each changed item whose stored and incoming value differ is handed to `_edited`."""

    items: dict[str, tuple[int, Any, Any]]

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
        self, session: AsyncSession, item_id: int, old: Any, new: Any, cause: str
    ) -> None:
        raise NotImplementedError


@dataclass
class LabelWatch(_Watch):
    source_id: int
    config: WriteBackConfig
    # external_id → (item id, stored labels of ours, incoming labels of ours)
    items: dict[str, tuple[int, set[str], set[str]]]

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


_ABSENT = object()


def field_value(raw: Mapping[str, object], field_id: str) -> object:
    """A text or select custom field's value in an issue payload: its text, None when
    empty, `_ABSENT` when the payload does not carry the field."""
    fields = raw.get("fields")
    if not isinstance(fields, Mapping) or field_id not in fields:
        return _ABSENT
    value = fields[field_id]
    if isinstance(value, Mapping):
        value = value.get("value")
    return str(value) if value not in (None, "") else None


@dataclass
class FieldWatch(_Watch):
    source_id: int
    config: WriteBackConfig
    # external_id → (item id, stored value, incoming value); values: text, None or _ABSENT
    items: dict[str, tuple[int, object, str | None]]

    async def _edited(
        self, session: AsyncSession, item_id: int, old: object, new: str | None, cause: str
    ) -> None:
        state = (
            await session.execute(
                select(WriteBackState).where(
                    col(WriteBackState.work_item_id) == item_id,
                    col(WriteBackState.field) == CUSTOM_FIELD,
                )
            )
        ).scalar_one()
        value = [new] if new is not None else []
        if value in (list(state.desired), list(state.written)):
            return  # our write, its echo, or what was already there
        # Nothing of ours was there: store_wins leaves a person's own value alone (as a label
        # a person adds), upstream_wins takes a title as a link.
        ours = bool(state.written) or (old is not _ABSENT and bool(state.desired))
        if not ours and (self.config.policy is WriteBackPolicy.store_wins or new is None):
            return
        CONFLICTS.labels(str(self.source_id), self.config.policy.value).inc()
        actor = await _actor(session, self.source_id, cause)
        had = list(state.written)
        state.written, state.owned = value, value
        if self.config.policy is WriteBackPolicy.store_wins:
            desired = list(state.desired)
            if desired and set(desired) <= set(state.reasserted):
                state.status = CONFLICT
                state.error = f"{CUSTOM_FIELD} changed upstream again by {actor}; left as is"
            else:
                state.reasserted = sorted(set(state.reasserted) | set(desired))
                state.status = PENDING
            session.add(state)
            await session.flush()
            return
        session.add(state)
        await session.flush()
        title = new if new is not None else (had[0] if had else None)
        initiative = await _initiative(session, title) if title is not None else None
        if initiative is None:
            state.status = CONFLICT
            state.error = f"{CUSTOM_FIELD} set upstream by {actor} to {new!r}: no such initiative"
            session.add(state)
            await session.flush()
            return
        from service.portfolio.links import put_manual  # late: links import the rules

        await put_manual(
            session,
            LinkTarget.initiative,
            initiative,
            item_id,
            exclude=new is None,
            author=actor,
            origin="upstream",
        )


async def _initiative(session: AsyncSession, title: str) -> int | None:
    """The initiative of that title (exact first, then ignoring case; the lowest id)."""
    rows = (
        await session.execute(
            select(Initiative.id, Initiative.title).order_by(Initiative.id)  # type: ignore[call-overload]
        )
    ).all()
    for same in (lambda t: t == title, lambda t: t.casefold() == title.casefold()):
        for initiative_id, found in rows:
            if same(found):
                return int(initiative_id)
    return None


async def watches(
    session: AsyncSession, source_id: int, items: Sequence[WorkItemIn]
) -> list[_Watch]:
    """Before an upsert: what to settle after it, for a source that writes back (its settings
    read once): its labels, and its Jira custom field when it writes one."""
    config = (await enabled_configs(session, [source_id])).get(source_id)
    if config is None:
        return []
    found = [
        await _watch_labels(session, source_id, config, items),
        await _watch_field(session, source_id, config, items),
    ]
    return [w for w in found if w is not None]


async def _watch_field(
    session: AsyncSession, source_id: int, config: WriteBackConfig, items: Sequence[WorkItemIn]
) -> FieldWatch | None:
    """The stored and incoming values of the written Jira custom field of incoming items that
    have its outbox row."""
    if config.jira_custom_field is None:
        return None
    field_id = config.jira_custom_field
    incoming = {
        item.external_id: value
        for item in items
        if (value := field_value(item.raw, field_id)) is not _ABSENT
    }
    ids = sorted(incoming)
    found: dict[str, tuple[int, object, str | None]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = await session.execute(
            select(WorkItem.id, WorkItem.external_id, WorkItem.raw)  # type: ignore[call-overload]
            .join(WriteBackState, col(WriteBackState.work_item_id) == WorkItem.id)
            .where(
                col(WorkItem.source_id) == source_id,
                col(WorkItem.external_id).in_(ids[start : start + _CHUNK]),
                col(WriteBackState.field) == CUSTOM_FIELD,
            )
        )
        for item_id, external_id, raw in rows:
            new = incoming[external_id]
            assert new is None or isinstance(new, str)
            found[external_id] = (item_id, field_value(raw or {}, field_id), new)
    return FieldWatch(source_id, config, found) if found else None


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


async def _watch_labels(
    session: AsyncSession, source_id: int, config: WriteBackConfig, items: Sequence[WorkItemIn]
) -> LabelWatch | None:
    """The stored labels of ours of incoming items that have outbox rows."""
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
