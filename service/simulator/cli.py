"""`portfolio-sync simulator`: the command function the service CLI registers."""

from __future__ import annotations

from datetime import datetime

import typer

from service.simulator.config import DEFAULT_ANCHOR, SimulatorConfig


def simulator(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8765, help="TCP port."),
    seed: int = typer.Option(1, help="Seed for the dataset, mutations and faults."),
    github_issues: int = typer.Option(500, help="GitHub issues and PRs to generate."),
    jira_issues: int = typer.Option(500, help="Jira issues to generate."),
    rate_limit: int = typer.Option(5000, help="GitHub primary budget per window."),
    rate_limit_window: float = typer.Option(3600.0, help="Seconds until the budget resets."),
    rate_limit_status: int = typer.Option(403, help="403 or 429 when the budget is spent."),
    jira_time_zone: str = typer.Option("America/Los_Angeles", help="Simulated Jira user's zone."),
    anchor: str = typer.Option(
        DEFAULT_ANCHOR.isoformat(), help="ISO time the generated history ends at."
    ),
    webhook_target: str = typer.Option("", help="Receiver base URL; empty disables webhooks."),
    github_webhook_secret: str = typer.Option("", help="Secret for X-Hub-Signature-256."),
    jira_webhook_secret: str = typer.Option("", help="Secret for Jira's X-Hub-Signature."),
    github_source_id: str = typer.Option("github", help="Path segment for GitHub webhooks."),
    jira_source_id: str = typer.Option("jira", help="Path segment for Jira webhooks."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve fake GitHub (`/github`) and Jira Cloud (`/jira`) upstreams with seeded data."""
    config = SimulatorConfig(
        seed=seed,
        github_issues=github_issues,
        jira_issues=jira_issues,
        rate_limit=rate_limit,
        rate_limit_window=rate_limit_window,
        rate_limit_status=rate_limit_status,
        jira_time_zone=jira_time_zone,
        anchor=datetime.fromisoformat(anchor),
        webhook_target=webhook_target.rstrip("/") or None,
        github_webhook_secret=github_webhook_secret or None,
        jira_webhook_secret=jira_webhook_secret or None,
        github_source_id=github_source_id,
        jira_source_id=jira_source_id,
    )
    base = f"http://{host}:{port}"
    typer.echo(f"GitHub base URL: {base}/github   Jira base URL: {base}/jira")
    import uvicorn  # here, so the service's other commands start without the simulator

    from service.simulator.app import create_app

    uvicorn.run(
        create_app(config), host=host, port=port, http="h11", loop="asyncio", log_level=log_level
    )


if __name__ == "__main__":
    typer.run(simulator)
