"""mapping rules and rollups: materialised rollup membership (anchors and tallies)

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Backfill for stores that already hold links: the same result `service.rules.membership.rebuild`
# computes, frozen here as SQL so the migration never depends on today's application code.
# Each item's anchor per target type is the nearest item on its parent chain, itself included,
# with a link row of that type of its own (UNION makes a cyclic parent chain terminate).
BACKFILL_ANCHORS = """
INSERT INTO membership_anchor
    (work_item_id, target_type, anchor_id, status_category, estimate, deleted)
WITH RECURSIVE chain(item_id, anchor_id) AS (
    SELECT DISTINCT work_item_id, work_item_id FROM work_item_link WHERE target_type = :t
    UNION
    SELECT child.id, chain.anchor_id
    FROM chain JOIN work_item AS child ON child.parent_id = chain.item_id
    WHERE NOT EXISTS (
        SELECT 1 FROM work_item_link AS own
        WHERE own.work_item_id = child.id AND own.target_type = :t
    )
)
SELECT chain.item_id, :t, chain.anchor_id, work_item.status_category, work_item.estimate,
       work_item.deleted_at IS NOT NULL
FROM chain JOIN work_item ON work_item.id = chain.item_id
"""
BACKFILL_TALLIES = """
INSERT INTO membership_tally
    (target_type, anchor_id, status_category, deleted, items, points, estimated)
SELECT target_type, anchor_id, status_category, deleted, COUNT(*),
       COALESCE(SUM(estimate), 0.0), COUNT(estimate)
FROM membership_anchor
GROUP BY target_type, anchor_id, status_category, deleted
"""


def upgrade() -> None:
    op.create_table(
        "membership_anchor",
        sa.Column("work_item_id", BIG_ID, nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("anchor_id", BIG_ID, nullable=False),
        sa.Column("status_category", sa.String(length=16), nullable=False),
        sa.Column("estimate", sa.Float(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_item.id"],
            name=op.f("fk_membership_anchor_work_item_id_work_item"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("work_item_id", "target_type", name=op.f("pk_membership_anchor")),
    )
    with op.batch_alter_table("membership_anchor", schema=None) as batch_op:
        batch_op.create_index(
            "ix_membership_anchor_anchor", ["target_type", "anchor_id"], unique=False
        )
    op.create_table(
        "membership_tally",
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("anchor_id", BIG_ID, nullable=False),
        sa.Column("status_category", sa.String(length=16), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("estimated", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "target_type",
            "anchor_id",
            "status_category",
            "deleted",
            name=op.f("pk_membership_tally"),
        ),
    )
    for target_type in ("initiative", "key_result"):
        op.execute(sa.text(BACKFILL_ANCHORS).bindparams(t=target_type))
    op.execute(sa.text(BACKFILL_TALLIES))


def downgrade() -> None:
    op.drop_table("membership_tally")
    with op.batch_alter_table("membership_anchor", schema=None) as batch_op:
        batch_op.drop_index("ix_membership_anchor_anchor")
    op.drop_table("membership_anchor")
