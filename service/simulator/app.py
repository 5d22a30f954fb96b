"""Builds the simulator ASGI app."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from service.simulator import (
    control,
    github,
    github_app,
    github_graphql,
    hooks,
    jira,
    label_writes,
)
from service.simulator.config import SimulatorConfig
from service.simulator.middleware import SimulatorMiddleware
from service.simulator.responses import UpstreamError
from service.simulator.state import SimulatorState


def create_app(config: SimulatorConfig | None = None) -> SimulatorMiddleware:
    """A fresh simulator: GitHub under `/github`, Jira under `/jira`, control under `/_sim`.

    The returned object is a plain ASGI app; its `.state` is the live `SimulatorState`, for
    benchmarks and tests that want to look inside without HTTP.
    """
    state = SimulatorState(config or SimulatorConfig())
    api = FastAPI(
        title="portfolio-sync upstream simulator",
        description="GitHub REST/GraphQL and Jira Cloud REST v3, seeded and deterministic.",
        version="1",
    )
    api.state.sim = state
    routers = (
        github_app.router,
        hooks.github_router,
        hooks.jira_router,
        github.free_router,
        github.router,
        github_graphql.router,
        jira.router,
        label_writes.github_router,
        label_writes.jira_router,
        control.router,
        label_writes.control_router,
    )
    for router in routers:
        api.include_router(router)

    @api.exception_handler(UpstreamError)
    async def upstream_error(_: Request, exc: UpstreamError) -> Response:
        return exc.response()

    return SimulatorMiddleware(api, state, [r for router in routers for r in router.routes])
