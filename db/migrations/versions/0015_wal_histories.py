"""wal_histories: the history file of each timeline a server's WAL went through (issue 23).

Revision ID: 0015_wal_histories
Revises: 0014_copies
Create Date: 2026-12-06 09:00:00

A promoted replica starts a new timeline at a switch position of its parent; a recovery across
the promotion needs the new timeline's history file (restore_command asks for it) and the
planner needs the switch position.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015_wal_histories"
down_revision: str | None = "0014_copies"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.create_table(
        "wal_histories",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("server", sa.Text(), nullable=False),
        sa.Column("system_identifier", sa.Text(), nullable=False),
        sa.Column("timeline", sa.Integer(), nullable=False),
        sa.Column("parent_timeline", sa.Integer(), nullable=False),
        sa.Column("switch_lsn", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("compression", sa.Text(), nullable=False),
        sa.Column("encrypted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "parts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wal_histories")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_wal_histories_server_system_identifier_timeline"),
        "wal_histories",
        ["server", "system_identifier", "timeline"],
        unique=True,
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("wal_histories", schema=SCHEMA)
