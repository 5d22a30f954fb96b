"""Response classification: outcomes, header parsing and the default (Jira-shaped) classifier.

Re-exported by `connectors.http`; import from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx

from connectors.base import RateLimitInfo


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
