"""sync engine: indexes for parent resolution in the work-item upsert

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("work_item", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_item_source_id_parent_external_id",
            ["source_id", "parent_external_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_work_item_source_id_parent_key", ["source_id", "parent_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("work_item", schema=None) as batch_op:
        batch_op.drop_index("ix_work_item_source_id_parent_key")
        batch_op.drop_index("ix_work_item_source_id_parent_external_id")
