"""rollups: tallies per target kept on write, items with several counting links

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

BACKFILL_TARGETS = """
INSERT INTO membership_target_tally
    (target_type, target_id, status_category, deleted, items, points, estimated)
SELECT l.target_type, l.target_id, t.status_category, t.deleted, SUM(t.items),
       SUM(t.points), SUM(t.estimated)
FROM work_item_link l
JOIN membership_tally t ON t.target_type = l.target_type AND t.anchor_id = l.work_item_id
WHERE NOT l.excluded
GROUP BY l.target_type, l.target_id, t.status_category, t.deleted
"""

BACKFILL_MULTI = """
INSERT INTO membership_multi_link (work_item_id, target_type)
SELECT work_item_id, target_type FROM work_item_link
WHERE NOT excluded
GROUP BY work_item_id, target_type
HAVING COUNT(*) > 1
"""


def upgrade() -> None:
    op.create_table(
        "membership_target_tally",
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", BIG_ID, nullable=False),
        sa.Column("status_category", sa.String(length=16), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("estimated", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "target_type",
            "target_id",
            "status_category",
            "deleted",
            name=op.f("pk_membership_target_tally"),
        ),
    )
    op.create_table(
        "membership_multi_link",
        sa.Column("work_item_id", BIG_ID, nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint(
            "work_item_id", "target_type", name=op.f("pk_membership_multi_link")
        ),
    )
    op.create_index(
        "ix_work_item_link_excluded",
        "work_item_link",
        ["excluded", "target_type", "target_id"],
        unique=False,
    )
    op.execute(sa.text(BACKFILL_TARGETS))
    op.execute(sa.text(BACKFILL_MULTI))


def downgrade() -> None:
    op.drop_index("ix_work_item_link_excluded", table_name="work_item_link")
    op.drop_table("membership_multi_link")
    op.drop_table("membership_target_tally")
