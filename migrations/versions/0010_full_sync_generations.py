"""sync: full-sync generations (marks on items, per-scope outcomes on runs)

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import schemas.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("work_item", sa.Column("seen_generation", BIG_ID, nullable=True))
    op.add_column("sync_run", sa.Column("generation", BIG_ID, nullable=True))
    op.add_column(
        "sync_run",
        sa.Column("scopes", schemas.types.JSONType, nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.drop_column("scopes")
        batch_op.drop_column("generation")
    with op.batch_alter_table("work_item", schema=None) as batch_op:
        batch_op.drop_column("seen_generation")
