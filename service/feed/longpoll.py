"""Long-poll: hold a reader until the feed has something after its cursor, or time runs out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from schemas.tables import Change
from service.feed.notifier import ChangeNotifier, notifier
from service.feed.queries import FeedFilter, list_changes
from service.store.db import Database

MAX_WAIT_SECONDS = 30.0


async def wait_for_changes(
    db: Database,
    *,
    after: int,
    limit: int,
    flt: FeedFilter,
    wait: float,
    poll_seconds: float,
    seen: int,
    changes_notifier: ChangeNotifier = notifier,
    clock: Callable[[], float] = time.monotonic,
) -> Sequence[Change]:
    """Re-read after each in-process nudge, and every `poll_seconds` for other processes' writes.

    Each read is its own short transaction: a reader waiting must hold no lock (on SQLite every
    transaction takes the write lock) and must see commits made while it waited.
    """
    deadline = clock() + min(wait, MAX_WAIT_SECONDS)
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            return []
        await changes_notifier.wait(min(remaining, poll_seconds), seen=seen)
        # Nudges come after their commit, so the read below sees everything up to this one.
        seen = changes_notifier.generation
        async with db.session() as session:
            rows = await list_changes(session, after=after, limit=limit, flt=flt)
        if rows:
            return rows
