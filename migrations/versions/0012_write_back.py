"""write-back: per-source settings, the outbox of desired upstream values, the write log

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import schemas.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def json_list(name: str) -> sa.Column[object]:
    return sa.Column(name, schemas.types.JSONType, nullable=False, server_default=sa.text("'[]'"))


def upgrade() -> None:
    op.add_column(
        "source",
        sa.Column(
            "write_back", schemas.types.JSONType, nullable=False, server_default=sa.text("'{}'")
        ),
    )
    op.create_table(
        "write_back_state",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("work_item_id", BIG_ID, nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        json_list("desired"),
        json_list("written"),
        json_list("owned"),
        json_list("reasserted"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", schemas.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", schemas.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_write_back_state_source_id_source"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_item.id"],
            name=op.f("fk_write_back_state_work_item_id_work_item"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_back_state")),
        sa.UniqueConstraint(
            "work_item_id", "field", name=op.f("uq_write_back_state_work_item_id_field")
        ),
    )
    op.create_index(
        "ix_write_back_state_source_id_status",
        "write_back_state",
        ["source_id", "status"],
        unique=False,
    )
    op.create_table(
        "write_back_write",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("work_item_id", BIG_ID, nullable=True),
        sa.Column("item_key", sa.String(length=300), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=300), nullable=False),
        json_list("before"),
        json_list("after"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", schemas.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["source.id"],
            name=op.f("fk_write_back_write_source_id_source"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_item_id"],
            ["work_item.id"],
            name=op.f("fk_write_back_write_work_item_id_work_item"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_back_write")),
    )
    op.create_index(
        "ix_write_back_write_source_id_id", "write_back_write", ["source_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_write_back_write_work_item_id"), "write_back_write", ["work_item_id"], unique=False
    )
    op.create_index(
        op.f("ix_write_back_write_status"), "write_back_write", ["status"], unique=False
    )


def downgrade() -> None:
    op.drop_table("write_back_write")
    op.drop_table("write_back_state")
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.drop_column("write_back")
