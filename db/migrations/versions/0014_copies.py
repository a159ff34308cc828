"""backup_part_copies: the further copies of each part, each in another repository (issue 25).

Revision ID: 0014_copies
Revises: 0013_wal
Create Date: 2026-12-06 07:05:00

backup_parts stays copy 0, the one every backup has: the rows recorded before copies existed
need nothing, and a worker with BACKUP_COPIES=1 writes nothing here. Copy n >= 1 of part i is
the row (backup_id, index i, copy n), naming the repository it went to (docs/fleet.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014_copies"
down_revision: str | None = "0013_wal"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.create_table(
        "backup_part_copies",
        sa.Column("backup_id", sa.Uuid(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("copy", sa.Integer(), nullable=False),
        sa.Column("repository", sa.Text(), nullable=False),
        sa.Column("file_id", sa.Text(), nullable=False),
        sa.Column("file_unique_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("bot_id", sa.Text(), nullable=True),
        sa.Column("delete_status", sa.Text(), nullable=True),
        sa.Column("delete_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("delete_attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('"copy" >= 1', name=op.f("ck_backup_part_copies_copy")),
        sa.ForeignKeyConstraint(
            ["backup_id", "index"],
            [f"{SCHEMA}.backup_parts.backup_id", f"{SCHEMA}.backup_parts.index"],
            name=op.f("fk_backup_part_copies_backup_id_backup_parts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("backup_id", "index", "copy", name=op.f("pk_backup_part_copies")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("backup_part_copies", schema=SCHEMA)
