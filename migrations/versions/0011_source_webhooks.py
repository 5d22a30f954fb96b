"""sources: auth method, registered webhooks, the previous secret during rotation, webhook health

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import schemas.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "source",
        sa.Column("auth", sa.String(length=16), nullable=False, server_default="token"),
    )
    op.add_column(
        "source",
        sa.Column(
            "webhooks", schemas.types.JSONType, nullable=False, server_default=sa.text("'[]'")
        ),
    )
    op.add_column("source", sa.Column("webhook_secret_previous_encrypted", sa.Text()))
    op.add_column("source", sa.Column("webhook_secret_previous_until", schemas.types.UTCDateTime()))
    op.add_column("source", sa.Column("last_delivery_at", schemas.types.UTCDateTime()))
    op.add_column("source", sa.Column("webhook_health", sa.String(length=16)))
    op.add_column("source", sa.Column("webhook_health_reason", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.drop_column("webhook_health_reason")
        batch_op.drop_column("webhook_health")
        batch_op.drop_column("last_delivery_at")
        batch_op.drop_column("webhook_secret_previous_until")
        batch_op.drop_column("webhook_secret_previous_encrypted")
        batch_op.drop_column("webhooks")
        batch_op.drop_column("auth")
