"""SSRF guard for upstream base URLs: https only, and never an internal address.

The host is resolved and every address it resolves to must be public. The HTTP clients never
follow redirects (`connectors.http.build_client`), so a public host cannot bounce a request
to an internal one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from service.errors import Unprocessable

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def forbidden_class(address: IPAddress) -> str | None:
    """The name of the forbidden class `address` falls in, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return forbidden_class(address.ipv4_mapped)
    checks: list[tuple[bool, str]] = [
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (
            isinstance(address, ipaddress.IPv6Address)
            and address in ipaddress.ip_network("fc00::/7"),
            "unique-local",
        ),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "private"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
    ]
    return next((name for hit, name in checks if hit), None)


def _refuse(message: str) -> Unprocessable:
    return Unprocessable(
        f"base_url: {message}",
        errors=[{"loc": ["body", "base_url"], "msg": message, "type": "value_error.ssrf"}],
    )


async def check_upstream_url(
    url: str, *, allow_private: bool, resolver: Resolver | None = None
) -> None:
    """Raise a 422 naming `base_url` unless `url` is an https URL of a public host.

    `allow_private` (PORTFOLIO_SYNC_ALLOW_PRIVATE_UPSTREAMS) allows internal hosts and http.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse(f"not a valid URL ({exc})") from exc
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise _refuse(
            "must use https (set PORTFOLIO_SYNC_ALLOW_PRIVATE_UPSTREAMS=true to allow http)"
        )
    if not parts.hostname:
        raise _refuse("has no host")
    if parts.username or parts.password:
        raise _refuse("must not carry credentials; put them in `credentials`")
    if allow_private:
        return
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            resolved = await (resolver or system_resolver)(
                host, port or (443 if parts.scheme == "https" else 80)
            )
        except OSError as exc:
            raise _refuse(f"host {host!r} cannot be resolved ({exc})") from exc
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
    if not addresses:
        raise _refuse(f"host {host!r} cannot be resolved")
    for address in addresses:
        kind = forbidden_class(address)
        if kind is not None:
            raise _refuse(
                f"host {host!r} resolves to {address}, a {kind} address; internal upstreams "
                "need PORTFOLIO_SYNC_ALLOW_PRIVATE_UPSTREAMS=true"
            )
