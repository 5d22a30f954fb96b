"""The one HTTP policy every connector uses: classify, retry, wait for rate limits, count.

A connector supplies a `ResponseClassifier` (GitHub and Jira read different headers); the
`HttpExecutor` applies the policy around `httpx.AsyncClient.send`:

- `ok` / `not_modified`: the response is returned;
- `retry` (5xx, timeouts, connection errors, truncated bodies): tenacity `AsyncRetrying`,
  exponential with jitter, bounded; exhaustion raises `RetriesExhaustedError`;
- `rate_limited`: wait (injectable `sleep`/`clock`) then send again; a wait longer than
  `max_wait_seconds` raises `RateLimitedError("rate limited until <iso time>")`;
- `fatal` (other 4xx, unexpected 3xx): `FatalUpstreamError` with the classifier's message.

Redirects are never followed (`follow_redirects=False`); a 3xx other than 304 is fatal with the
`Location` in the message, so a moved repository or site shows up as a configuration error.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import weakref
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from connectors.base import (
    Clock,
    ConnectorStats,
    FatalUpstreamError,
    RateLimitedError,
    RateLimitInfo,
    RetriesExhaustedError,
    Sleep,
)
from connectors.classify import (
    Classification,
    Outcome,
    ResponseClassifier,
    describe_request,
    parse_reset,
    parse_retry_after,
    upstream_message,
    utc_now,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "Classification",
    "HttpExecutor",
    "Outcome",
    "RateLimitPolicy",
    "Reply",
    "ResponseClassifier",
    "RetryPolicy",
    "TransientError",
    "build_client",
    "describe_request",
    "parse_reset",
    "parse_retry_after",
    "token_lock",
    "upstream_message",
    "utc_now",
]

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)


@dataclass(frozen=True)
class Reply:
    """A successful (2xx or 304) response and its decoded JSON body (None for 304/empty)."""

    response: httpx.Response
    data: Any = None

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    @property
    def request(self) -> httpx.Request:
        return self.response.request

    @property
    def not_modified(self) -> bool:
        return self.response.status_code == 304


class TransientError(Exception):
    """Raised inside the retry loop for outcomes that deserve another attempt."""


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with jitter for the `retry` outcome."""

    max_attempts: int = 5
    initial_seconds: float = 0.5
    max_seconds: float = 30.0
    jitter_seconds: float = 1.0


@dataclass
class RateLimitPolicy:
    """When to wait before sending, and how long a wait may be before the run fails.

    `remaining_floor_ratio`: wait for the reset once `remaining <= ceil(limit * ratio)`, keeping
    headroom for other users of the same token.
    """

    max_wait_seconds: float = 15 * 60
    remaining_floor_ratio: float = 0.1
    #: Reset times have one-second resolution; waiting a little longer avoids an early send.
    reset_margin_seconds: float = 1.0


_TOKEN_LOCKS: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)


def token_lock(token: str) -> asyncio.Lock:
    """One lock per token (per event loop), shared by every executor using that token."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    key = (id(asyncio.get_running_loop()), digest)
    lock = _TOKEN_LOCKS.get(key)
    if lock is None:
        lock = asyncio.Lock()
        _TOKEN_LOCKS[key] = lock
    return lock


class HttpExecutor:
    """Sends requests one at a time under the retry and rate-limit policy.

    Args:
        client: the `httpx.AsyncClient` to send with (its base URL and headers apply).
        classifier: the upstream's `ResponseClassifier`.
        stats: counters to update (requests, retries, waits, rate limit per resource).
        retry: the retry policy for transient failures.
        limits: the rate-limit policy.
        sleep: awaited for every wait (inject a fake in tests).
        clock: the current aware UTC time (inject a fake in tests).
        lock: serializes requests; pass `token_lock(token)` to share it across connectors.

    Raises (from `send`):
        FatalUpstreamError: a non-retryable response, with the classifier's message.
        RateLimitedError: the upstream asks for a wait longer than `limits.max_wait_seconds`.
        RetriesExhaustedError: transient failures persisted past `retry.max_attempts`.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        classifier: ResponseClassifier,
        *,
        stats: ConnectorStats | None = None,
        retry: RetryPolicy | None = None,
        limits: RateLimitPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utc_now,
        lock: asyncio.Lock | None = None,
    ) -> None:
        self.client = client
        self.classifier = classifier
        self.stats = stats if stats is not None else ConnectorStats()
        self.retry = retry or RetryPolicy()
        self.limits = limits or RateLimitPolicy()
        self.sleep = sleep
        self.clock = clock
        self.lock = lock or asyncio.Lock()

    async def send(
        self, request: httpx.Request, *, expect_json: bool = True, context: str | None = None
    ) -> Reply:
        """Send `request` until it is ok or not modified; see the class docstring for errors.

        `context` (e.g. the repository or project) prefixes every error message.
        """
        prefix = f"{context}: " if context else ""

        def count_retry(state: RetryCallState) -> None:
            self.stats.retries += 1

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=wait_exponential_jitter(
                initial=self.retry.initial_seconds,
                max=self.retry.max_seconds,
                jitter=self.retry.jitter_seconds,
            ),
            retry=retry_if_exception_type(TransientError),
            sleep=self.sleep,
            before_sleep=count_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send_once(request, expect_json=expect_json)
        except FatalUpstreamError as exc:
            if not prefix:
                raise
            raise FatalUpstreamError(f"{prefix}{exc}", status=exc.status) from exc
        except RateLimitedError as exc:
            if not prefix:
                raise
            raise RateLimitedError(f"{prefix}{exc}", until=exc.until) from exc
        except TransientError as exc:
            raise RetriesExhaustedError(
                f"{prefix}{describe_request(request)}: gave up after {self.retry.max_attempts} "
                f"attempts, last error: {exc}"
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _send_once(self, request: httpx.Request, *, expect_json: bool) -> Reply:
        consecutive_limits = 0
        while True:
            async with self.lock:
                await self._wait_for_budget(self.classifier.resource_for(request))
                response = await self._transport(request)
            now = self.clock()
            verdict = self.classifier.classify(response, now)
            data: Any = None
            if verdict.outcome is Outcome.ok and expect_json and response.content:
                try:
                    data = response.json()
                except ValueError:
                    # A body cut short by a proxy or a reset: transient, not fatal.
                    verdict = Classification(Outcome.retry, "truncated or malformed JSON body")
                else:
                    verdict = self.classifier.classify_body(response, data, now) or verdict
            if verdict.outcome in (Outcome.ok, Outcome.not_modified):
                return Reply(response, data)
            if verdict.outcome is Outcome.retry:
                raise TransientError(f"{describe_request(request)}: {verdict.message}")
            if verdict.outcome is Outcome.fatal:
                raise FatalUpstreamError(verdict.message, status=response.status_code)
            if verdict.wait_seconds is not None:
                wait = verdict.wait_seconds
            else:
                wait = (verdict.backoff_seconds or 60.0) * 2**consecutive_limits
            consecutive_limits += 1
            await self.wait(wait, reason=verdict.message)

    async def _transport(self, request: httpx.Request) -> httpx.Response:
        self.stats.requests += 1
        try:
            response = await self.client.send(request)
        except Exception as exc:
            self.stats.count_response("error")
            verdict = self.classifier.classify_exception(exc)
            if verdict is None:
                raise
            raise TransientError(f"{describe_request(request)}: {verdict.message}") from exc
        self.stats.count_response(response.status_code)
        info = self.classifier.rate_limit_info(response)
        if info is not None and info.resource:
            self.note_rate_limit(info)
        return response

    def note_rate_limit(self, info: RateLimitInfo) -> None:
        """Record a budget seen in headers or in a body (GraphQL `rateLimit`)."""
        key = info.resource or "default"
        known = self.stats.rate_limit.get(key)
        if known is not None:
            # A body may know remaining but not limit; keep what we already knew.
            info = RateLimitInfo(
                resource=key,
                limit=info.limit if info.limit is not None else known.limit,
                remaining=info.remaining if info.remaining is not None else known.remaining,
                reset_at=info.reset_at or known.reset_at,
            )
        self.stats.rate_limit[key] = info

    def floor(self, info: RateLimitInfo) -> int:
        if info.limit is None:
            return 0
        return math.ceil(info.limit * self.limits.remaining_floor_ratio)

    async def _wait_for_budget(self, resource: str) -> None:
        info = self.stats.rate_limit.get(resource)
        if info is None or info.remaining is None or info.reset_at is None:
            return
        if info.remaining > self.floor(info):
            return
        wait = (info.reset_at - self.clock()).total_seconds() + self.limits.reset_margin_seconds
        if wait > 0:
            await self.wait(wait, reason=f"{resource} budget at {info.remaining}")
        # The budget after the reset is unknown until the next response says so.
        self.stats.rate_limit[resource] = RateLimitInfo(
            resource=resource, limit=info.limit, remaining=None, reset_at=None
        )

    async def wait(self, seconds: float, *, reason: str = "") -> None:
        """Wait for a rate limit, or fail when the wait exceeds the configured maximum."""
        until = self.clock() + timedelta(seconds=seconds)
        if seconds > self.limits.max_wait_seconds:
            stamp = until.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            raise RateLimitedError(f"rate limited until {stamp} ({reason})", until=until)
        self.stats.rate_limit_wait_seconds += seconds
        await self.sleep(seconds)


def build_client(
    base_url: str = "",
    *,
    headers: dict[str, str] | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` with bounded timeouts that never follows redirects."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        follow_redirects=False,
        transport=transport,
    )
