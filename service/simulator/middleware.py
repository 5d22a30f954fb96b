"""The outermost ASGI layer: counts requests, spots rate-limit violations, injects faults.

It must stay outermost: a connection reset needs uvicorn's own `send` to reach the socket.

What a client observes for the two transport-level faults:

* connection reset — on a real server (uvicorn) the socket is aborted with SO_LINGER 0 before
  any byte of the response, so the client gets a TCP RST: httpx raises `httpx.ReadError`
  (connection reset by peer) or `httpx.RemoteProtocolError` ("Server disconnected without
  sending a response"), depending on timing. Under `httpx.ASGITransport` there is no socket, so
  the app raises `SimulatedConnectionReset`, a subclass of `httpx.RemoteProtocolError`, which the
  transport passes straight to the caller: the same exception family as on a real server.
* truncated body — the status line and the full `Content-Length` go out, then half the body.
  On a real server the connection is then aborted, and httpx raises
  `httpx.RemoteProtocolError` ("peer closed connection without sending complete message body")
  while reading. Under `ASGITransport` the response simply ends early: the client gets a
  200 whose body is cut in half and fails to parse as JSON.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import httpx
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.simulator.faults import Fault
from service.simulator.responses import GITHUB_JSON, JIRA_JSON, dumps
from service.simulator.state import SimulatorState

SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID "
    "0685:5DE3:147ACFE:4004275:62D63574."
)


_WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class SimulatedConnectionReset(httpx.RemoteProtocolError):
    """Raised in-process (ASGI transport) where a real server would reset the connection."""


def check_write_spacing(state: SimulatorState) -> None:
    """GitHub asks for writes (REST writes and GraphQL mutations) at least a second apart
    (`github_write_interval`); a sooner one counts as a `github_write_spacing` violation."""
    now = state.windows.now()
    interval = state.config.github_write_interval
    last = state.last_github_write
    if interval and last is not None and now - last < interval - 1e-6:
        state.stats.violation("github_write_spacing")
    state.last_github_write = now


class SimulatorMiddleware:
    def __init__(self, app: ASGIApp, state: SimulatorState, routes: list[Any]) -> None:
        self.app = app
        self.state = state
        self.routes = routes

    def endpoint(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return f"{scope['method']} {route.path}"
        return f"{scope['method']} {scope['path']}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(("/github/", "/jira/")):
            await self.app(scope, receive, send)
            return
        state = self.state
        upstream = "github" if path.startswith("/github/") else "jira"
        endpoint = self.endpoint(scope)
        budget = state.budget_for(path)
        if state.windows.active(upstream) or (budget is not None and budget.known_empty()):
            state.stats.violation(upstream)
        if upstream == "github" and scope["method"] in _WRITES and "/graphql" not in path:
            self._check_write_spacing()
        if state.faults.settings.latency_ms:
            await asyncio.sleep(state.faults.settings.latency_ms / 1000)
        fault, status = state.faults.decide(upstream)
        if fault is not None:
            state.stats.faults[fault.value] += 1
        if fault is Fault.reset:
            state.stats.record(endpoint, "reset")
            await _reset(send)
            return
        if fault in (Fault.jira_429, Fault.github_secondary, Fault.server_error):
            await self._fault_response(upstream, endpoint, status, send)
            return
        seen: dict[str, Any] = {}

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                self._note_retry_after(upstream, message)
            await send(message)

        if fault is Fault.truncate:
            await self._truncated(scope, receive, send, endpoint)
            return
        await self.app(scope, receive, observe)
        state.stats.record(endpoint, seen.get("status", "none"))

    def _check_write_spacing(self) -> None:
        check_write_spacing(self.state)

    def _note_retry_after(self, upstream: str, message: Message) -> None:
        headers = {k.lower(): v for k, v in message.get("headers", [])}
        retry_after = headers.get(b"retry-after")
        # A primary-budget answer is already judged by the budget itself (remaining and reset).
        if retry_after and headers.get(b"x-ratelimit-remaining") != b"0":
            self.state.windows.open(upstream, float(retry_after))

    async def _fault_response(self, upstream: str, endpoint: str, status: int, send: Send) -> None:
        retry_after = self.state.faults.settings.retry_after
        headers: list[tuple[bytes, bytes]] = []
        if upstream == "github":
            media = GITHUB_JSON
            if status == 403:
                payload: Any = {
                    "message": SECONDARY_MESSAGE,
                    "documentation_url": "https://docs.github.com/rest/overview/"
                    "rate-limits-for-the-rest-api#about-secondary-rate-limits",
                    "status": "403",
                }
            else:
                payload = {"message": "Server Error", "status": str(status)}
        else:
            media = JIRA_JSON
            if status == 429:
                payload = {"errorMessages": ["Rate limit exceeded."], "errors": {}}
                headers.append((b"ratelimit-reason", b"jira-burst-based"))
            else:
                payload = {"errorMessages": ["Internal server error"], "errors": {}}
        if retry_after is not None and status in (403, 429, 503):
            headers.append((b"retry-after", str(retry_after).encode()))
            self.state.windows.open(upstream, retry_after)
        body = dumps(payload)
        headers += [
            (b"content-type", media.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        self.state.stats.record(endpoint, status)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _truncated(self, scope: Scope, receive: Receive, send: Send, endpoint: str) -> None:
        messages: list[Message] = []

        async def buffer(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, buffer)
        start = messages[0]
        body = b"".join(m.get("body", b"") for m in messages[1:])
        self.state.stats.record(endpoint, "truncated")
        await send(start)
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        if not await _drop_connection(send, reset=False):
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _drop_connection(send: Send, reset: bool) -> bool:
    """End the TCP connection under uvicorn; False when there is no socket (ASGI transport).

    `reset` aborts with an RST; otherwise the socket is closed after flushing what was written,
    so a truncated body really reaches the client before the FIN.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not isinstance(transport, asyncio.Transport):
        return False
    sock = transport.get_extra_info("socket")
    if reset and sock is not None:
        # Linger 0 turns the close into an RST, which is what "connection reset" means.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if reset:
        transport.abort()
    else:
        transport.close()
    # Let uvicorn see the loss before the app returns, so it does not write a 500 afterwards.
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return True


async def _reset(send: Send) -> None:
    if not await _drop_connection(send, reset=True):
        raise SimulatedConnectionReset("Server disconnected without sending a response.")
