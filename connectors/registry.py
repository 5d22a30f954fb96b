"""Build a connector by source kind; the service's only entry point to the connectors."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from connectors.base import Clock, Connector, Sleep
from connectors.http import utc_now
from connectors.writes import DEFAULT_MIN_WRITE_INTERVAL_SECONDS, LabelWriter


def build_connector(
    kind: str,
    *,
    base_url: str,
    credentials: Mapping[str, Any],
    scope: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
    client: httpx.AsyncClient | None = None,
    sleep: Sleep | None = None,
    clock: Clock | None = None,
    max_wait_seconds: float | None = None,
) -> Connector:
    """The connector for `kind` (`github` or `jira`).

    Raises:
        ValueError: unknown kind, or the connector rejects its configuration.
    """
    kwargs: dict[str, Any] = {
        "base_url": base_url,
        "credentials": credentials,
        "scope": scope,
        "settings": settings or {},
        "client": client,
        "sleep": sleep or asyncio.sleep,
        "clock": clock or utc_now,
    }
    if max_wait_seconds is not None:
        kwargs["max_wait_seconds"] = max_wait_seconds
    if kind == "github":
        from connectors.github.connector import GitHubConnector

        return GitHubConnector(**kwargs)
    if kind == "jira":
        # Imported here so each kind loads only what it needs.
        from connectors.jira.connector import JiraConnector  # type: ignore[import-not-found,unused-ignore]

        return JiraConnector(**kwargs)  # type: ignore[no-any-return,unused-ignore]
    raise ValueError(f"unknown connector kind {kind!r}")


def build_label_writer(
    kind: str,
    *,
    base_url: str,
    credentials: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
    scope: Mapping[str, Any] | None = None,
    client: httpx.AsyncClient | None = None,
    sleep: Sleep | None = None,
    clock: Clock | None = None,
    max_wait_seconds: float = 15 * 60,
    min_write_interval: float = DEFAULT_MIN_WRITE_INTERVAL_SECONDS,
) -> LabelWriter:
    """The label writer for `kind`; GitHub writes are paced `min_write_interval` apart.

    Raises:
        ValueError: unknown kind, or incomplete credentials.
    """
    common: dict[str, Any] = {
        "client": client,
        "sleep": sleep or asyncio.sleep,
        "clock": clock or utc_now,
        "max_wait_seconds": max_wait_seconds,
    }
    if kind == "github":
        from connectors.github.writes import GitHubLabelWriter

        return GitHubLabelWriter(
            base_url, credentials, scope=scope, min_interval=min_write_interval, **common
        )
    if kind == "jira":
        from connectors.jira.writes import JiraLabelWriter

        return JiraLabelWriter(base_url, credentials, settings=settings, **common)
    raise ValueError(f"unknown connector kind {kind!r}")
