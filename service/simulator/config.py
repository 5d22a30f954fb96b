"""Simulator settings: one frozen object decides the dataset, limits and webhook wiring."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

# A fixed anchor keeps the dataset identical across runs and days: timestamps are generated in
# the months before it and mutations move a simulated clock forward from it.
DEFAULT_ANCHOR = datetime(2025, 6, 2, 9, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes one simulator instance.

    Args:
        seed: drives every random choice (dataset, mutations, faults).
        github_issues: issues + pull requests spread over `github_repos`.
        jira_issues: issues of every type spread over `jira_projects`.
        rate_limit: primary GitHub budget per window (REST `core` and `graphql` each get one).
        rate_limit_window: seconds until the budget resets (wall clock: clients really wait).
        rate_limit_status: 403 or 429 once the primary budget is exhausted.
        jira_time_zone: the simulated Jira user's zone; JQL dates are read in it.
        webhook_target: base URL of the receiver; events go to
            `{target}/webhooks/{github|jira}/{source_id}`. None disables emission.
        webhook_transport: lets tests deliver webhooks into an ASGI app in-process.
        github_app_id, github_installation_id: the simulated GitHub App and its org installation.
        github_app_private_key: the App's PEM key; None generates one on first use.
        github_write_interval: least seconds between GitHub writes (0: not checked).
    """

    seed: int = 1
    github_issues: int = 500
    jira_issues: int = 500
    github_org: str = "acme"
    github_repos: tuple[str, ...] = ("web", "api", "mobile")
    jira_projects: tuple[str, ...] = ("PLAT", "MOB", "OPS")
    anchor: datetime = DEFAULT_ANCHOR
    history_days: int = 180
    rate_limit: int = 5000
    rate_limit_window: float = 3600.0
    rate_limit_status: int = 403
    jira_time_zone: str = "America/Los_Angeles"
    webhook_target: str | None = None
    github_webhook_secret: str | None = None
    jira_webhook_secret: str | None = None
    github_source_id: str = "github"
    jira_source_id: str = "jira"
    github_hook_id: int = 292430182
    github_app_id: int = 1001
    github_installation_id: int = 4242
    github_app_private_key: str | None = field(default=None, repr=False)
    webhook_timeout: float = 5.0
    # Least seconds between two GitHub writes (REST POST/PATCH/PUT/DELETE); a write sent
    # sooner counts as a rate-limit violation. 0 turns the check off.
    github_write_interval: float = 0.0
    webhook_transport: httpx.AsyncBaseTransport | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.rate_limit_status not in (403, 429):
            raise ValueError("rate_limit_status must be 403 or 429")
        if not self.github_repos or not self.jira_projects:
            raise ValueError("at least one repository and one Jira project are required")
