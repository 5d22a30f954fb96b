"""Jinja2 environment, display filters and versioned static files for the web pages."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from service.web.portfolio_view import HEALTH_LABELS, counts_of, data_attributes

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

# Admin entries of the navigation, shown to admins only (label, path).
ADMIN_NAV: list[tuple[str, str]] = [
    ("Sources", "/admin/sources"),
    ("Rules", "/admin/rules"),
    ("Webhook inbox", "/admin/webhooks"),
    ("Subscriptions", "/admin/subscriptions"),
]


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str
    etag: str


class StaticFiles:
    """The stylesheet and scripts, read once; URLs carry a content hash (cache forever)."""

    def __init__(self, root: Path) -> None:
        self.files: dict[str, StaticFile] = {}
        for path in sorted(root.iterdir()):
            if path.is_file():
                body = path.read_bytes()
                media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                if media.startswith("text/") or media == "application/javascript":
                    media += "; charset=utf-8"
                digest = hashlib.sha256(body).hexdigest()[:12]
                self.files[path.name] = StaticFile(body=body, media_type=media, etag=digest)

    def url(self, name: str) -> str:
        return f"/static/{name}?v={self.files[name].etag}"


def percent(progress: float | None) -> str:
    return "n/a" if progress is None else f"{progress * 100:.1f}%"


def health_label(health: str | None) -> str:
    return HEALTH_LABELS.get(health or "", "No health")


def number(value: float | int | None) -> str:
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


def day(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def web_url(value: str | None) -> str | None:
    """An upstream URL fit for a link: http(s) only (never `javascript:` from stored data)."""
    if value and value.lower().startswith(("https://", "http://")):
        return value
    return None


def build_environment(static: StaticFiles) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        percent=percent, health_label=health_label, number=number, day=day, web_url=web_url
    )
    globals_: dict[str, Any] = {
        "static_url": static.url,
        "admin_nav": ADMIN_NAV,
        "node_data": data_attributes,
        "node_counts": counts_of,
        "health_choices": list(HEALTH_LABELS.items()),
    }
    env.globals.update(globals_)
    return env


static_files = StaticFiles(STATIC_DIR)
environment = build_environment(static_files)
