"""wal_marks: points of a server's WAL where one database's rows were counted (issue 23).

Revision ID: 0016_wal_marks
Revises: 0015_wal_histories
Create Date: 2026-12-06 16:30:00

A drill to a point recovers the server to a mark and compares the database's rows with the
counts taken there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016_wal_marks"
down_revision: str | None = "0015_wal_histories"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"


def upgrade() -> None:
    op.create_table(
        "wal_marks",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("server", sa.Text(), nullable=False),
        sa.Column("system_identifier", sa.Text(), nullable=False),
        sa.Column("database", sa.Text(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tables", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("drilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("drill_status", sa.Text(), nullable=True),
        sa.Column("drill_report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wal_marks")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_wal_marks_server_database_position"),
        "wal_marks",
        ["server", "database", "position"],
        unique=False,
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("wal_marks", schema=SCHEMA)
