"""The SSRF guard applied to subscription URLs (the shared check, reported against `url`)."""

from __future__ import annotations

from service.errors import Unprocessable
from service.sources.ssrf import Resolver, check_upstream_url


async def check_subscription_url(
    url: str, *, allow_private: bool, resolver: Resolver | None = None
) -> None:
    """https only, and every address the host resolves to must be public (unless allowed)."""
    try:
        await check_upstream_url(url, allow_private=allow_private, resolver=resolver)
    except Unprocessable as exc:
        message = exc.detail.removeprefix("base_url: ")
        raise Unprocessable(
            f"url: {message}",
            errors=[{"loc": ["body", "url"], "msg": message, "type": "value_error.ssrf"}],
        ) from exc
