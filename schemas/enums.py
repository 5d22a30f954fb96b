"""Enumerations shared by the store, the API and the connectors."""

from enum import StrEnum


class SourceKind(StrEnum):
    github = "github"
    jira = "jira"


class StatusCategory(StrEnum):
    todo = "todo"
    in_progress = "in_progress"
    done = "done"
    cancelled = "cancelled"


class ItemKind(StrEnum):
    """Known work-item kinds. Jira levels above epic map to `initiative`-like names as given."""

    epic = "epic"
    story = "story"
    task = "task"
    bug = "bug"
    subtask = "subtask"
    issue = "issue"
    pull_request = "pull_request"
    portfolio = "portfolio"


class Role(StrEnum):
    reader = "reader"
    editor = "editor"
    admin = "admin"


class ProgressSource(StrEnum):
    manual = "manual"
    linked_work = "linked_work"


class InitiativeStatus(StrEnum):
    proposed = "proposed"
    active = "active"
    paused = "paused"
    done = "done"
    cancelled = "cancelled"


class SyncMode(StrEnum):
    incremental = "incremental"
    full = "full"
    reconcile = "reconcile"


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    abandoned = "abandoned"


class DeliveryStatus(StrEnum):
    pending = "pending"
    processed = "processed"
    failed = "failed"
    dead = "dead"
    ignored = "ignored"


class LinkTarget(StrEnum):
    initiative = "initiative"
    key_result = "key_result"
