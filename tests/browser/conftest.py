"""Browser tests: Playwright driving Debian's Chromium against a live service and the simulator.

The browser is `/usr/bin/chromium` (Debian's `chromium` package), never a downloaded build.
When it is missing the setup installs it with apt-get if it runs as root; otherwise the tests
are skipped locally, and with CI=true a missing browser fails the run, as PostgreSQL does.

Every page a test visits is saved as a PNG under `.artifacts/screenshots/<backend>/`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from schemas.enums import Role
from service.simulator.server import running_simulator
from tests.conftest import BACKENDS, _create_pg_database, _drop_pg_database
from tests.e2e.conftest import SIM_CONFIG

from .live import LiveService, live_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
ON_CI = os.environ.get("CI") == "true"


def _unavailable(reason: str) -> None:
    if ON_CI:
        pytest.fail(f"the browser tests need Chromium on CI: {reason}")
    pytest.skip(reason)


def _install_chromium() -> str | None:
    """apt-get install Debian's Chromium when we may (root); the reason it is missing else."""
    opted_out = os.environ.get("PORTFOLIO_SYNC_TEST_INSTALL_BROWSER") == "false"
    if opted_out or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return (
            f"{CHROMIUM} is missing: install it with "
            "`apt-get install chromium chromium-driver` (as root the tests do it themselves)"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]
    for command in (install, ["apt-get", "update", "-qq"], install):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if command is install and done.returncode == 0 and CHROMIUM.exists():
            return None
    return f"apt-get could not install chromium: {done.stderr.strip()[-500:]}"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        reason = _install_chromium()
        if reason is not None:
            _unavailable(reason)
    return str(CHROMIUM)


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package is missing ({exc}); pip install -e '.[dev]'")
    async with async_playwright() as playwright:
        # `launch` gives the browser a fresh temporary profile (user-data dir) of its own.
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture(scope="session", params=BACKENDS)
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveService]:
    """The service on its own database of each backend, synced from the simulator."""
    backend = request.param
    pg_name = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('browser') / 'web.db'}"
    else:
        pg_name, url = await _create_pg_database()
    try:
        async with (
            running_simulator(SIM_CONFIG) as sim_base,
            live_service(backend, url, sim_base) as svc,
        ):
            yield svc
    finally:
        if pg_name is not None:
            await _drop_pg_database(pg_name)


class Screens:
    """Saves a screenshot of a page under `.artifacts/screenshots/<backend>/<name>.png`."""

    def __init__(self, backend: str) -> None:
        self.folder = SCREENSHOTS / backend
        self.folder.mkdir(parents=True, exist_ok=True)

    async def shot(self, page: Any, name: str) -> Path:
        path = self.folder / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screens(live: LiveService) -> Screens:
    return Screens(live.backend)


@pytest.fixture
async def context(browser: Any, live: LiveService) -> AsyncIterator[Any]:
    """A fresh browser context (no cookies) pointed at the live service."""
    ctx = await browser.new_context(base_url=live.base_url, viewport=LAPTOP)
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        await ctx.close()


async def sign_in(context: Any, live: LiveService, role: Role) -> Any:
    """A page signed in through the sign-in form with the role's API key."""
    page = await context.new_page()
    await page.goto("/sign-in")
    await page.get_by_label("API key").fill(live.key(role))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    return page
