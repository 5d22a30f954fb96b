"""web app: one-time sign-in tokens

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import schemas.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", schemas.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", schemas.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", schemas.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_key.id"],
            name=op.f("fk_sign_in_token_api_key_id_api_key"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sign_in_token_token_hash")),
    )
    with op.batch_alter_table("sign_in_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sign_in_token_api_key_id"), ["api_key_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sign_in_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_token_api_key_id"))
    op.drop_table("sign_in_token")
