"""SQLModel table classes: the whole portfolio store.

Tables are created and changed only by Alembic migrations (`migrations/`).
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from schemas.types import JSONType, UTCDateTime, apply_naming_convention, utcnow

apply_naming_convention(SQLModel.metadata)

# 64-bit ids on PostgreSQL for the tables that grow without bound; SQLite needs INTEGER for rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=nullable, index=index),
    )


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _json(default: Any = dict) -> Any:
    return Field(default_factory=default, sa_column=Column(JSONType, nullable=False))


def _fk(
    target: str, *, nullable: bool = True, ondelete: str | None = "CASCADE", index: bool = True
) -> Any:
    return Field(
        default=None,
        sa_column=Column(
            BigId if target.startswith("work_item") else Integer(),
            ForeignKey(target, ondelete=ondelete),
            nullable=nullable,
            index=index,
        ),
    )


class Source(SQLModel, table=True):
    __tablename__ = "source"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    base_url: str = Field(sa_column=Column(String(500), nullable=False))
    credentials_encrypted: str | None = Field(default=None, sa_column=Column(Text))
    # How the credentials authenticate (`token` or `github_app`); never the secret itself.
    auth: str = Field(
        default="token", sa_column=Column(String(16), nullable=False, server_default="token")
    )
    webhook_secret_encrypted: str | None = Field(default=None, sa_column=Column(Text))
    # During a rotation's grace window the receiver also accepts the previous secret.
    webhook_secret_previous_encrypted: str | None = Field(default=None, sa_column=Column(Text))
    webhook_secret_previous_until: datetime | None = _ts(nullable=True)
    # Hooks this service registered upstream: target, upstream id, events, url, registered_at.
    webhooks: list[dict[str, Any]] = _json(list)
    last_delivery_at: datetime | None = _ts(nullable=True)
    webhook_health: str | None = Field(default=None, sa_column=Column(String(16)))
    webhook_health_reason: str | None = Field(default=None, sa_column=Column(Text))
    scope: dict[str, Any] = _json()
    settings: dict[str, Any] = _json()
    discovered: dict[str, Any] = _json()
    rate_limit: dict[str, Any] = _json()
    # Write-back settings (`schemas.api.write_back.WriteBackConfig`); empty means off.
    write_back: dict[str, Any] = _json()
    poll_interval_seconds: int = Field(default=300)
    enabled: bool = Field(default=True)
    last_success_at: datetime | None = _ts(nullable=True)
    last_reconcile_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class WorkItem(SQLModel, table=True):
    __tablename__ = "work_item"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id"),
        Index("ix_work_item_source_id_key", "source_id", "key"),
        Index("ix_work_item_upstream_updated_at", "upstream_updated_at"),
        # Parent resolution finds the orphans waiting for a newly written parent.
        Index("ix_work_item_source_id_parent_external_id", "source_id", "parent_external_id"),
        Index("ix_work_item_source_id_parent_key", "source_id", "parent_key"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    source_id: int = _fk("source.id", nullable=False, index=False)
    external_id: str = Field(sa_column=Column(String(200), nullable=False))
    key: str = Field(sa_column=Column(String(300), nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    title: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(String(200), nullable=False))
    status_category: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    parent_id: int | None = _fk("work_item.id", ondelete="SET NULL")
    parent_external_id: str | None = Field(default=None, sa_column=Column(String(200)))
    parent_key: str | None = Field(default=None, sa_column=Column(String(300)))
    project: str | None = Field(default=None, sa_column=Column(String(300)))
    issue_type: str | None = Field(default=None, sa_column=Column(String(200)))
    labels: list[str] = _json(list)
    components: list[str] = _json(list)
    milestone: str | None = Field(default=None, sa_column=Column(String(300)))
    sprint: str | None = Field(default=None, sa_column=Column(String(300)))
    fix_versions: list[str] = _json(list)
    assignee: str | None = Field(default=None, sa_column=Column(String(200)))
    assignee_name: str | None = Field(default=None, sa_column=Column(String(300)))
    estimate: float | None = None
    url: str | None = Field(default=None, sa_column=Column(Text))
    upstream_created_at: datetime | None = _ts(nullable=True)
    upstream_updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    resolved_at: datetime | None = _ts(nullable=True)
    deleted_at: datetime | None = _ts(nullable=True)
    raw: dict[str, Any] = _json()
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    # The full-sync generation (run id) that last read this item: a full run's own listing is
    # its delete sweep, so items of a completely read scope without the mark become tombstones.
    seen_generation: int | None = Field(default=None, sa_column=Column(BigId))
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Objective(SQLModel, table=True):
    __tablename__ = "objective"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_column=Column(String(500), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text))
    parent_id: int | None = _fk("objective.id", ondelete=None)
    owner: str | None = Field(default=None, sa_column=Column(String(200)))
    weight: float = Field(default=1.0)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class KeyResult(SQLModel, table=True):
    __tablename__ = "key_result"

    id: int | None = Field(default=None, primary_key=True)
    objective_id: int = _fk("objective.id", nullable=False, ondelete="CASCADE")
    title: str = Field(sa_column=Column(String(500), nullable=False))
    start: float = Field(default=0.0)
    target: float = Field(default=1.0)
    current: float = Field(default=0.0)
    unit: str | None = Field(default=None, sa_column=Column(String(50)))
    progress_source: str = Field(default="manual", sa_column=Column(String(16), nullable=False))
    weight: float = Field(default=1.0)
    start_date: date | None = None
    target_date: date | None = None
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Initiative(SQLModel, table=True):
    __tablename__ = "initiative"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_column=Column(String(500), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text))
    owner: str | None = Field(default=None, sa_column=Column(String(200)))
    status: str = Field(default="proposed", sa_column=Column(String(16), nullable=False))
    start_date: date | None = None
    target_date: date | None = None
    created_at: datetime = _created()
    updated_at: datetime = _created()


class InitiativeKeyResult(SQLModel, table=True):
    __tablename__ = "initiative_key_result"

    initiative_id: int = Field(
        sa_column=Column(
            Integer(), ForeignKey("initiative.id", ondelete="CASCADE"), primary_key=True
        )
    )
    key_result_id: int = Field(
        sa_column=Column(
            Integer(), ForeignKey("key_result.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )


class WorkItemLink(SQLModel, table=True):
    """Work item ↔ initiative or key result, with provenance.

    `provenance` is `rule:<id>@<version>`, `manual:<key name>` or `inherited:<parent link id>`;
    `excluded` marks a manual exclusion that rules cannot override.
    """

    __tablename__ = "work_item_link"
    __table_args__ = (
        UniqueConstraint("work_item_id", "target_type", "target_id"),
        Index("ix_work_item_link_target", "target_type", "target_id"),
        # Manual exclusions per target (few) without reading every link of the target.
        Index("ix_work_item_link_excluded", "excluded", "target_type", "target_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    work_item_id: int = _fk("work_item.id", nullable=False, index=False)
    target_type: str = Field(sa_column=Column(String(16), nullable=False))
    target_id: int = Field(nullable=False)
    provenance: str = Field(sa_column=Column(String(200), nullable=False))
    rule_id: int | None = _fk("mapping_rule.id", ondelete="SET NULL")
    manual: bool = Field(default=False)
    excluded: bool = Field(default=False)
    created_at: datetime = _created()


class MappingRule(SQLModel, table=True):
    __tablename__ = "mapping_rule"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False))
    priority: int = Field(default=100, index=True)
    enabled: bool = Field(default=True)
    conditions: dict[str, Any] = _json()
    target_type: str = Field(sa_column=Column(String(16), nullable=False))
    target_id: int = Field(nullable=False)
    version: int = Field(default=1)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class MappingRuleVersion(SQLModel, table=True):
    __tablename__ = "mapping_rule_version"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    rule_id: int = _fk("mapping_rule.id", nullable=False, index=False)
    version: int = Field(nullable=False)
    snapshot: dict[str, Any] = _json()
    created_by: str | None = Field(default=None, sa_column=Column(String(200)))
    created_at: datetime = _created()


class SyncCursor(SQLModel, table=True):
    __tablename__ = "sync_cursor"

    source_id: int = Field(
        sa_column=Column(Integer(), ForeignKey("source.id", ondelete="CASCADE"), primary_key=True)
    )
    stream: str = Field(sa_column=Column(String(300), primary_key=True))
    state: dict[str, Any] = _json()
    updated_at: datetime = _created()


class SyncRun(SQLModel, table=True):
    __tablename__ = "sync_run"
    __table_args__ = (Index("ix_sync_run_source_id_id", "source_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    source_id: int = _fk("source.id", nullable=False, index=False)
    mode: str = Field(sa_column=Column(String(16), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    trigger: str = Field(default="api", sa_column=Column(String(32), nullable=False))
    started_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)
    heartbeat_at: datetime | None = _ts(nullable=True)
    requests: int = 0
    pages: int = 0
    items_created: int = 0
    items_updated: int = 0
    items_unchanged: int = 0
    items_deleted: int = 0
    retries: int = 0
    rate_limit_wait_seconds: float = 0.0
    error: str | None = Field(default=None, sa_column=Column(Text))
    # Full runs: the generation whose marks this run sets (its own id, or the id of the
    # interrupted full run it resumes) and the outcome of each scope it read.
    generation: int | None = Field(default=None, sa_column=Column(BigId))
    scopes: dict[str, Any] = _json()
    created_at: datetime = _created()


class SyncLease(SQLModel, table=True):
    """At most one sync per source at a time, across processes and replicas."""

    __tablename__ = "sync_lease"

    source_id: int = Field(
        sa_column=Column(Integer(), ForeignKey("source.id", ondelete="CASCADE"), primary_key=True)
    )
    holder: str | None = Field(default=None, sa_column=Column(String(200)))
    run_id: int | None = Field(default=None, sa_column=Column(BigId))
    expires_at: datetime | None = _ts(nullable=True)


class JobLease(SQLModel, table=True):
    """At most one holder of a named background job at a time, across processes and replicas."""

    __tablename__ = "job_lease"

    name: str = Field(sa_column=Column(String(100), primary_key=True))
    holder: str | None = Field(default=None, sa_column=Column(String(200)))
    expires_at: datetime | None = _ts(nullable=True)


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("source_id", "delivery_id"),
        Index("ix_webhook_delivery_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    source_id: int = _fk("source.id", nullable=False, index=False)
    delivery_id: str = Field(sa_column=Column(String(300), nullable=False))
    event: str = Field(sa_column=Column(String(100), nullable=False))
    action: str | None = Field(default=None, sa_column=Column(String(100)))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    signature_valid: bool = Field(default=True)
    headers: dict[str, Any] = _json()
    payload: dict[str, Any] = _json()
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    received_at: datetime = _created()
    next_attempt_at: datetime | None = _ts(nullable=True)
    processed_at: datetime | None = _ts(nullable=True)


class Change(SQLModel, table=True):
    """Append-only change feed; `id` is the monotonic cursor."""

    __tablename__ = "change"
    __table_args__ = (Index("ix_change_entity", "entity_type", "entity_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    type: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    entity_type: str = Field(sa_column=Column(String(32), nullable=False))
    entity_id: int = Field(sa_column=Column(BigId, nullable=False))
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    cause: str = Field(sa_column=Column(String(300), nullable=False))
    created_at: datetime = _created()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    role: str = Field(sa_column=Column(String(16), nullable=False))
    prefix: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    key_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = _created()
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


class ProgressSnapshot(SQLModel, table=True):
    """A node's progress and health when it changed (at most one per node per interval)."""

    __tablename__ = "progress_snapshot"
    __table_args__ = (Index("ix_progress_snapshot_node", "node_type", "node_id", "recorded_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    node_type: str = Field(sa_column=Column(String(16), nullable=False))
    node_id: int = Field(nullable=False)
    progress: float | None = None
    health: str | None = Field(default=None, sa_column=Column(String(16)))
    by_count: float | None = None
    by_points: float | None = None
    # Burn-up: done and scope (cancelled and deleted items left out), in items and points.
    done_count: int = Field(
        default=0, sa_column=Column(Integer(), nullable=False, server_default="0")
    )
    total_count: int = Field(
        default=0, sa_column=Column(Integer(), nullable=False, server_default="0")
    )
    done_points: float = Field(
        default=0.0, sa_column=Column(Float(), nullable=False, server_default="0")
    )
    total_points: float = Field(
        default=0.0, sa_column=Column(Float(), nullable=False, server_default="0")
    )
    details: dict[str, Any] = _json()
    recorded_at: datetime = _created()


class Subscription(SQLModel, table=True):
    """An outbound (Standard Webhooks) subscription to the change feed."""

    __tablename__ = "subscription"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(sa_column=Column(Text, nullable=False))
    secret_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    types: list[str] = _json(list)
    initiative_id: int | None = Field(default=None)
    objective_id: int | None = Field(default=None)
    enabled: bool = Field(default=True)
    disabled_reason: str | None = Field(default=None, sa_column=Column(Text))
    failing_since: datetime | None = _ts(nullable=True)
    last_change_id: int = Field(default=0, sa_column=Column(BigId, nullable=False))
    created_at: datetime = _created()
    updated_at: datetime = _created()


class SubscriptionDelivery(SQLModel, table=True):
    __tablename__ = "subscription_delivery"
    __table_args__ = (
        Index("ix_subscription_delivery_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    subscription_id: int = _fk("subscription.id", nullable=False)
    webhook_id: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    event_type: str = Field(sa_column=Column(String(64), nullable=False))
    change_id: int | None = Field(default=None, sa_column=Column(BigId))
    payload: dict[str, Any] = _json()
    status: str = Field(sa_column=Column(String(16), nullable=False))
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(nullable=True)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _created()
    delivered_at: datetime | None = _ts(nullable=True)


class DigestSchedule(SQLModel, table=True):
    __tablename__ = "digest_schedule"

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(sa_column=Column(String(100), nullable=False))
    cron: str = Field(sa_column=Column(String(100), nullable=False))
    subscription_id: int = _fk("subscription.id", nullable=False)
    enabled: bool = Field(default=True)
    last_run_at: datetime | None = _ts(nullable=True)
    next_run_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class MembershipAnchor(SQLModel, table=True):
    """Per target type, the item a work item takes its links from (rollup membership).

    `anchor_id` is the nearest item on the parent chain, the item itself included, that has a
    link row of `target_type` of its own; the item counts for that anchor's non-excluded
    targets. The status category, estimate and tombstone are the values counted in
    `membership_tally`. Maintained by `service.rules.membership`.
    """

    __tablename__ = "membership_anchor"
    __table_args__ = (Index("ix_membership_anchor_anchor", "target_type", "anchor_id"),)

    work_item_id: int = Field(
        sa_column=Column(BigId, ForeignKey("work_item.id", ondelete="CASCADE"), primary_key=True)
    )
    target_type: str = Field(sa_column=Column(String(16), primary_key=True))
    anchor_id: int = Field(sa_column=Column(BigId, nullable=False))
    status_category: str = Field(sa_column=Column(String(16), nullable=False))
    estimate: float | None = None
    deleted: bool = Field(default=False)


class MembershipTally(SQLModel, table=True):
    """Items, points and estimated items per anchor and (status category, tombstoned) bucket."""

    __tablename__ = "membership_tally"

    target_type: str = Field(sa_column=Column(String(16), primary_key=True))
    anchor_id: int = Field(sa_column=Column(BigId, primary_key=True))
    status_category: str = Field(sa_column=Column(String(16), primary_key=True))
    deleted: bool = Field(sa_column=Column(Boolean, primary_key=True))
    items: int = Field(default=0)
    points: float = Field(default=0.0)
    estimated: int = Field(default=0)


class MembershipTargetTally(SQLModel, table=True):
    """Items, points and estimated items per target and bucket: the tallies of its anchors."""

    __tablename__ = "membership_target_tally"

    target_type: str = Field(sa_column=Column(String(16), primary_key=True))
    target_id: int = Field(sa_column=Column(BigId, primary_key=True))
    status_category: str = Field(sa_column=Column(String(16), primary_key=True))
    deleted: bool = Field(sa_column=Column(Boolean, primary_key=True))
    items: int = Field(default=0)
    points: float = Field(default=0.0)
    estimated: int = Field(default=0)


class MembershipMultiLink(SQLModel, table=True):
    """Items with two or more counting own links of a target type (key results count once)."""

    __tablename__ = "membership_multi_link"

    work_item_id: int = Field(sa_column=Column(BigId, primary_key=True))
    target_type: str = Field(sa_column=Column(String(16), primary_key=True))


class SignInToken(SQLModel, table=True):
    """A one-time, short-lived link that signs a browser in as an API key (stored hashed)."""

    __tablename__ = "sign_in_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    api_key_id: int = _fk("api_key.id", nullable=False)
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = _ts(nullable=True)


class WriteBackState(SQLModel, table=True):
    """Outbox: an item's desired upstream value of one written field, and what was written."""

    __tablename__ = "write_back_state"
    __table_args__ = (
        UniqueConstraint("work_item_id", "field"),
        Index("ix_write_back_state_source_id_status", "source_id", "status"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    work_item_id: int = _fk("work_item.id", nullable=False, index=False)
    source_id: int = _fk("source.id", nullable=False, index=False)
    field: str = Field(sa_column=Column(String(32), nullable=False))
    desired: list[str] = _json(list)
    # Values of ours that upstream holds, as last written or seen; `owned` are those we added.
    written: list[str] = _json(list)
    owned: list[str] = _json(list)
    # Values written again once after a person removed them (policy `store_wins`).
    reasserted: list[str] = _json(list)
    status: str = Field(sa_column=Column(String(16), nullable=False))
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    next_attempt_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _created()


class WriteBackWrite(SQLModel, table=True):
    """One upstream write (or failed attempt) made by write-back."""

    __tablename__ = "write_back_write"
    __table_args__ = (Index("ix_write_back_write_source_id_id", "source_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    source_id: int = _fk("source.id", nullable=False, index=False)
    work_item_id: int | None = _fk("work_item.id", ondelete="SET NULL")
    item_key: str = Field(sa_column=Column(String(300), nullable=False))
    field: str = Field(sa_column=Column(String(32), nullable=False))
    operation: str = Field(sa_column=Column(String(16), nullable=False))
    value: str = Field(sa_column=Column(String(300), nullable=False))
    before: list[str] = _json(list)
    after: list[str] = _json(list)
    status: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _created()
