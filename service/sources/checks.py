"""`POST /admin/sources/{id}/test`: ask the upstream whether the credentials and scope work."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.base import ConnectorError, FatalUpstreamError, Sleep
from connectors.registry import build_connector
from schemas.api.sources import SourceCheck
from schemas.tables import Source
from service.errors import ServiceError
from service.security import SecretBox
from service.sources import store
from service.sync.engine import safe_message


class UpstreamFailure(ServiceError):
    """The upstream refused or failed; `detail` carries its message (never a secret)."""

    status = 502
    title = "Bad Gateway"


async def check_source(
    session: AsyncSession,
    box: SecretBox,
    source: Source,
    *,
    client: httpx.AsyncClient | None = None,
    sleep: Sleep | None = None,
) -> SourceCheck:
    """Run the connector's `check` then `discover`; keep what discovery found on the source."""
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
        found = await connector.check()
        discovered = await connector.discover()
    except ConnectorError as exc:
        extra: dict[str, Any] = {}
        if isinstance(exc, FatalUpstreamError) and exc.status is not None:
            extra["upstream_status"] = exc.status
        message = safe_message(exc, [str(v) for v in credentials.values()])
        raise UpstreamFailure(f"the upstream check failed: {message}", **extra) from exc
    finally:
        await connector.aclose()
    store.apply_discovery(source, discovered)
    session.add(source)
    await session.flush()
    return SourceCheck(ok=True, found=found, discovered=discovered)
