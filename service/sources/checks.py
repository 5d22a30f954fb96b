"""`POST /admin/sources/{id}/test`: ask the upstream whether the credentials and scope work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.base import Connector, ConnectorError, FatalUpstreamError, Sleep
from connectors.registry import build_connector
from schemas.api.sources import SourceCheck
from schemas.tables import Source
from service.errors import ServiceError
from service.security import SecretBox
from service.sources import store
from service.sync.record import safe_message


class UpstreamFailure(ServiceError):
    """The upstream refused or failed; `detail` carries its message (never a secret)."""

    status = 502
    title = "Bad Gateway"


@asynccontextmanager
async def upstream_connector(
    box: SecretBox,
    source: Source,
    action: str,
    *,
    client: httpx.AsyncClient | None = None,
    sleep: Sleep | None = None,
) -> AsyncIterator[Connector]:
    """The source's connector for one admin action; an upstream failure inside the block is a
    502 `UpstreamFailure` ("<action> failed: <upstream message>", secrets blanked)."""
    credentials = store.credentials_of(box, source)
    connector = build_connector(
        source.kind,
        base_url=source.base_url,
        credentials=credentials,
        scope=source.scope,
        settings=source.settings,
        client=client,
        sleep=sleep,
    )
    try:
        yield connector
    except ConnectorError as exc:
        extra: dict[str, Any] = {}
        if isinstance(exc, FatalUpstreamError) and exc.status is not None:
            extra["upstream_status"] = exc.status
        message = safe_message(exc, [str(v) for v in credentials.values()])
        raise UpstreamFailure(f"{action} failed: {message}", **extra) from exc
    finally:
        await connector.aclose()


async def check_source(
    session: AsyncSession,
    box: SecretBox,
    source: Source,
    *,
    client: httpx.AsyncClient | None = None,
    sleep: Sleep | None = None,
) -> SourceCheck:
    """Run the connector's `check` then `discover`; keep what discovery found on the source."""
    async with upstream_connector(
        box, source, "the upstream check", client=client, sleep=sleep
    ) as connector:
        found = await connector.check()
        discovered = await connector.discover()
    store.apply_discovery(source, discovered)
    session.add(source)
    await session.flush()
    return SourceCheck(ok=True, found=found, discovered=discovered)
