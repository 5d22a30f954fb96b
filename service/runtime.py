"""Assembles the running program: app plus background work, as `serve` and `worker` use it."""

from __future__ import annotations

from fastapi import FastAPI

from service.app import create_app
from service.config import Settings


def build_app(settings: Settings, *, migrate: bool = True) -> FastAPI:
    return create_app(settings, migrate=migrate)
