"""API models for sources and sync runs. Credentials and webhook secrets are write-only."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.api.common import NoNul
from schemas.enums import RunStatus, SourceKind, SyncMode

SourceName = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"), NoNul
]
BaseUrl = Annotated[str, Field(min_length=8, max_length=500), NoNul]
Secret = Annotated[str, Field(min_length=1, max_length=1000), NoNul]
PollInterval = Annotated[int, Field(ge=10, le=7 * 86400)]


class SourceCreate(BaseModel):
    """A source to sync. `credentials` (github: `token`, or a GitHub App's `app_id` +
    `private_key` (PEM) + optional `installation_id`; jira: `email` + `api_token`, or
    `oauth_token` + `cloud_id`) and `webhook_secret` are stored encrypted, never returned."""

    model_config = ConfigDict(extra="forbid")

    kind: SourceKind
    name: SourceName
    base_url: BaseUrl
    credentials: dict[str, Any] = Field(description="Write-only; encrypted at rest.")
    scope: dict[str, Any] = Field(
        description="github: `repos` and/or `org`, `projects`; jira: `projects` and/or `jql`."
    )
    settings: dict[str, Any] = Field(default_factory=dict)
    poll_interval_seconds: PollInterval = 300
    webhook_secret: Secret | None = Field(default=None, description="Write-only.")
    enabled: bool = True


class SourceUpdate(BaseModel):
    """Partial update; `kind` cannot change. `webhook_secret: null` removes the secret."""

    model_config = ConfigDict(extra="forbid")

    name: SourceName | None = None
    base_url: BaseUrl | None = None
    credentials: dict[str, Any] | None = Field(default=None, description="Write-only.")
    scope: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    poll_interval_seconds: PollInterval | None = None
    webhook_secret: Secret | None = Field(default=None, description="Write-only.")
    enabled: bool | None = None


class RunPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source_id: int
    mode: SyncMode
    status: RunStatus
    trigger: str
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    requests: int
    pages: int
    items_created: int
    items_updated: int
    items_unchanged: int
    items_deleted: int
    retries: int
    rate_limit_wait_seconds: float
    error: str | None
    generation: int | None = Field(
        default=None,
        description="Full runs: the run whose listing this run continues (its own id, or the "
        "interrupted full run it resumed); items it read carry this mark.",
    )
    scopes: dict[str, Any] = Field(
        default_factory=dict,
        description="Full runs: each partition's outcome (`complete` or `failed` with its error) "
        "and the delete sweep's candidates and tombstones.",
    )
    created_at: datetime


class RegisteredWebhook(BaseModel):
    """A webhook this service registered upstream (its secret is never shown)."""

    target: str = Field(description="`repo:<owner>/<repo>`, `org:<org>` or `jira`.")
    upstream_id: int | None = Field(description="The hook's id upstream.")
    events: list[str]
    url: str
    registered_at: datetime | None = Field(description="When it was first registered.")
    updated_at: datetime | None = Field(default=None, description="When it was last updated.")


class SourcePublic(BaseModel):
    id: int
    kind: SourceKind
    name: str
    base_url: str
    scope: dict[str, Any]
    settings: dict[str, Any]
    poll_interval_seconds: int
    enabled: bool
    credentials_set: bool
    webhook_secret_set: bool
    created_at: datetime
    updated_at: datetime
    last_success_at: datetime | None = Field(description="End of the last successful run.")
    lag_seconds: float | None = Field(description="Seconds since the last successful run.")
    last_reconcile_at: datetime | None
    next_run_at: datetime | None = Field(description="When the scheduler polls next (± jitter).")
    rate_limit: dict[str, Any] = Field(description="Last seen upstream budget per resource.")
    discovered: dict[str, Any] = Field(description="Discovered field choices and site facts.")
    auth: str = Field(description="`token` (PAT, API token, OAuth) or `github_app`.")
    webhooks: list[RegisteredWebhook] = Field(
        default_factory=list, description="Webhooks this service registered upstream."
    )
    last_delivery_at: datetime | None = Field(
        default=None, description="When the last delivery with a valid signature arrived."
    )
    webhook_health: str | None = Field(
        default=None,
        description="`ok` or `degraded` once webhooks are registered; null before.",
    )
    webhook_health_reason: str | None = None
    previous_webhook_secret_valid_until: datetime | None = Field(
        default=None, description="End of the grace window in which the old secret still works."
    )
    last_run: RunPublic | None = None


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: SyncMode = SyncMode.incremental


class SyncAccepted(BaseModel):
    run_id: int
    status: RunStatus


class SourceCheck(BaseModel):
    """What `check` found upstream (user, repositories or projects) and discovered settings."""

    ok: bool
    found: dict[str, Any]
    discovered: dict[str, Any]


class WebhookRemoval(BaseModel):
    removed: int = Field(description="Hooks deleted upstream (ones already gone are not counted).")
