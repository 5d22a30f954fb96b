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
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
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

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)


class Outcome(StrEnum):
    ok = "ok"
    not_modified = "not_modified"
    retry = "retry"
    rate_limited = "rate_limited"
    fatal = "fatal"


@dataclass(frozen=True)
class Classification:
    """What to do with one response.

    For `rate_limited`, `wait_seconds` is the wait the upstream asked for; when it is None,
    `backoff_seconds` is the base of an exponential backoff (doubled per consecutive limit).
    """

    outcome: Outcome
    message: str = ""
    wait_seconds: float | None = None
    backoff_seconds: float | None = None


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


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def parse_reset(value: str | None) -> datetime | None:
    """A rate-limit reset time: epoch seconds (GitHub) or ISO 8601 such as `2026-03-26T16:00Z`."""
    if not value:
        return None
    value = value.strip()
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def describe_request(request: httpx.Request) -> str:
    return f"{request.method} {request.url.path}"


class ResponseClassifier:
    """Default classification; subclass per upstream to read its own headers and bodies.

    The defaults fit Jira Cloud: 429 (and 503 with `Retry-After`) is a rate limit whose wait comes
    from `Retry-After` or `X-RateLimit-Reset` (epoch or ISO); other 5xx retry; other 4xx fatal.
    """

    resource_header = "x-ratelimit-resource"
    reset_header = "x-ratelimit-reset"
    #: Used when a rate-limited response names no wait at all.
    default_backoff_seconds = 60.0

    def resource_for(self, request: httpx.Request) -> str:
        """The budget a request draws from, so the executor can wait before sending it."""
        return "default"

    def rate_limit_info(self, response: httpx.Response) -> RateLimitInfo | None:
        limit = _int_header(response, "x-ratelimit-limit")
        remaining = _int_header(response, "x-ratelimit-remaining")
        reset_at = parse_reset(response.headers.get(self.reset_header))
        if limit is None and remaining is None and reset_at is None:
            return None
        resource = response.headers.get(self.resource_header) or self.resource_for(response.request)
        return RateLimitInfo(resource=resource, limit=limit, remaining=remaining, reset_at=reset_at)

    def classify(self, response: httpx.Response, now: datetime) -> Classification:
        status = response.status_code
        if status == 304:
            return Classification(Outcome.not_modified)
        if 200 <= status < 300:
            return Classification(Outcome.ok)
        if status == 429 or (status == 503 and "retry-after" in response.headers):
            return self.rate_limited(response, now)
        if status >= 500:
            return Classification(Outcome.retry, f"HTTP {status}")
        if 300 <= status < 400:
            location = response.headers.get("location", "?")
            return Classification(Outcome.fatal, f"HTTP {status} redirect to {location} refused")
        return Classification(Outcome.fatal, self.fatal_message(response))

    def rate_limited(self, response: httpx.Response, now: datetime) -> Classification:
        message = f"HTTP {response.status_code} rate limited"
        wait = parse_retry_after(response.headers.get("retry-after"), now)
        if wait is None:
            reset_at = parse_reset(response.headers.get(self.reset_header))
            if reset_at is not None:
                wait = max(0.0, (reset_at - now).total_seconds())
        if wait is None:
            return Classification(
                Outcome.rate_limited, message, backoff_seconds=self.default_backoff_seconds
            )
        return Classification(Outcome.rate_limited, message, wait_seconds=wait)

    def fatal_message(self, response: httpx.Response) -> str:
        return (
            f"{describe_request(response.request)} -> HTTP {response.status_code}: "
            f"{upstream_message(response)}"
        )

    def classify_body(
        self, response: httpx.Response, data: Any, now: datetime
    ) -> Classification | None:
        """Override for upstreams that report failures inside a 2xx body (GraphQL)."""
        return None

    def classify_exception(self, exc: Exception) -> Classification | None:
        """Transport failures (timeouts, resets, truncated bodies) are retried."""
        if isinstance(exc, httpx.TransportError):
            return Classification(Outcome.retry, f"{type(exc).__name__}: {exc}".rstrip(": "))
        return None


def upstream_message(response: httpx.Response) -> str:
    """The upstream's own error text (`message`, Jira `errorMessages`), else the body head."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return body["message"]
        messages = body.get("errorMessages") or []
        errors = body.get("errors") or {}
        parts = [str(m) for m in messages]
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        if parts:
            return "; ".join(parts)
    return str(body)[:200]


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
            verdict = self.classifier.classify_exception(exc)
            if verdict is None:
                raise
            raise TransientError(f"{describe_request(request)}: {verdict.message}") from exc
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
