"""Settings: one typed object, one environment prefix (`PORTFOLIO_SYNC_`)."""

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTFOLIO_SYNC_", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./portfolio-sync.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s) for credentials at rest; comma-separated, newest first.",
    )
    allow_private_upstreams: bool = Field(
        default=False,
        description="Allow source/subscription URLs on private networks and plain http.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool | None = Field(
        default=None, description="JSON logs; default: JSON unless stderr is a terminal."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    scheduler_enabled: bool = Field(
        default=True, description="Run the poll scheduler and background workers in `serve`."
    )
    scheduler_tick_seconds: float = Field(
        default=5.0,
        ge=0.1,
        le=300,
        description="How often the poll scheduler looks for due sources (in `serve` and `worker`).",
    )
    sqlite_busy_timeout_ms: int = 5000
    reconcile_interval_seconds: int = Field(
        default=86400, description="Delete sweep per source (reconcile) at most this often."
    )
    lease_ttl_seconds: int = Field(
        default=120, description="Sync lease lifetime; renewed by a running sync."
    )
    public_url: str | None = Field(
        default=None,
        description="The service's address as upstreams reach it; registered webhooks deliver "
        "to `<PUBLIC_URL>/webhooks/<kind>/<source id>`. https unless ALLOW_PRIVATE_UPSTREAMS.",
    )
    webhook_secret_grace_seconds: int = Field(
        default=3600,
        ge=0,
        description="After a webhook secret rotation the previous secret is still accepted "
        "this long.",
    )
    webhook_silence_threshold_seconds: int = Field(
        default=1800,
        ge=1,
        description="A source with registered webhooks turns `degraded` when a poll finds "
        "changes and no verified delivery arrived for longer than this.",
    )
    webhook_max_body_bytes: int = Field(default=5 * 1024 * 1024)
    webhook_max_attempts: int = Field(default=8)
    worker_poll_seconds: float = Field(default=1.0)
    upstream_max_wait_seconds: int = Field(
        default=900, description="A rate-limit wait longer than this fails the run."
    )
    jira_overlap_minutes: int = 2
    write_back_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often the write-back worker looks for due writes."
    )
    write_back_min_interval_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Least time between two GitHub writes with one token (GitHub asks for 1 s).",
    )
    feed_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Long-polling feed readers re-check the database this often (other writers).",
    )
    subscription_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one outbound subscription delivery."
    )
    health_at_risk_margin: float = Field(
        default=0.15, description="at_risk when progress < elapsed time share minus this."
    )
    health_off_track_margin: float = Field(
        default=0.30, description="off_track when progress < elapsed time share minus this."
    )
    snapshot_interval_seconds: int = Field(
        default=3600,
        ge=1,
        description="Progress history keeps at most one point per node per this interval "
        "(the last value in the window wins).",
    )
    forecast_weeks: int = Field(
        default=6, ge=1, le=52, description="Weeks of throughput an initiative forecast uses."
    )
    health_evaluation_seconds: int = Field(
        default=3600,
        ge=1,
        description="How often health is re-evaluated as time passes (also at each midnight UTC, "
        "when start and target dates begin and end).",
    )

    @model_validator(mode="after")
    def _public_url_is_https(self) -> "Settings":
        url = self.public_url
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError("PUBLIC_URL must be an absolute http(s) URL")
        if url is not None and url.startswith("http://") and not self.allow_private_upstreams:
            raise ValueError("PUBLIC_URL must use https (or set ALLOW_PRIVATE_UPSTREAMS)")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
