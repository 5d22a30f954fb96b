"""progress on write: burn-up columns on progress snapshots, job leases

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import schemas.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("done_count", "total_count")
_POINTS = ("done_points", "total_points")


def _scope(details: dict[str, Any]) -> dict[str, Any]:
    """Burn-up values of an existing snapshot, from the explanation it was stored with."""
    explanation = details.get("explanation") or {}
    counts, points = explanation.get("counts") or {}, explanation.get("points") or {}
    return {
        "by_count": details.get("by_count"),
        "by_points": details.get("by_points"),
        "done_count": int(counts.get("done", 0)),
        "total_count": int(sum(counts.values()) - counts.get("cancelled", 0)),
        "done_points": float(points.get("done", 0.0)),
        "total_points": float(sum(points.values()) - points.get("cancelled", 0.0)),
    }


def upgrade() -> None:
    with op.batch_alter_table("progress_snapshot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("by_count", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("by_points", sa.Float(), nullable=True))
        for name in _COUNTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        for name in _POINTS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=False, server_default="0"))
    snapshot = sa.table(
        "progress_snapshot",
        sa.column("id", sa.BigInteger()),
        sa.column("details", schemas.types.JSONType),
        *(sa.column(n, sa.Float()) for n in ("by_count", "by_points", *_POINTS)),
        *(sa.column(n, sa.Integer()) for n in _COUNTS),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(snapshot.c.id, snapshot.c.details)).all()
    updates = [{"row_id": row_id, **_scope(details or {})} for row_id, details in rows]
    if updates:
        bind.execute(
            snapshot.update()
            .where(snapshot.c.id == sa.bindparam("row_id"))
            .values({n: sa.bindparam(n) for n in ("by_count", "by_points", *_COUNTS, *_POINTS)}),
            updates,
        )
    op.create_table(
        "job_lease",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("expires_at", schemas.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_lease")),
    )


def downgrade() -> None:
    op.drop_table("job_lease")
    with op.batch_alter_table("progress_snapshot", schema=None) as batch_op:
        for name in ("total_points", "done_points", "total_count", "done_count"):
            batch_op.drop_column(name)
        batch_op.drop_column("by_points")
        batch_op.drop_column("by_count")
