"""Registered webhooks (GitHub repository/org hooks and Jira admin webhooks) and silencing."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Hook:
    id: int
    owner: str  # "repo:acme/web", "org:acme" or "jira"
    url: str
    events: list[str]
    secret: str | None
    active: bool = True
    name: str = "web"
    jql: str | None = None
    created_at: int = 0
    updated_at: int = 0


@dataclass
class HookRegistry:
    hooks: dict[int, Hook] = field(default_factory=dict)
    next_id: int = 500000001
    silenced: set[str] = field(default_factory=set)

    def add(self, hook: Hook) -> Hook:
        self.hooks[hook.id] = hook
        self.next_id += 1
        return hook

    def owned(self, owner: str) -> list[Hook]:
        return [h for h in self.hooks.values() if h.owner == owner]
