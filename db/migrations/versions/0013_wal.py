"""Point-in-time recovery: WAL bundles and base backups of whole source servers.

Revision ID: 0013_wal
Revises: 0012_job_bytes
Create Date: 2026-12-06 06:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_wal"
down_revision: str | None = "0012_job_bytes"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"


def _common() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("server", sa.Text(), nullable=False),
        sa.Column("system_identifier", sa.Text(), nullable=False),
        sa.Column("timeline", sa.Integer(), nullable=False),
    ]


def _artifact() -> list[sa.Column[object]]:
    return [
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
    ]


def upgrade() -> None:
    op.create_table(
        "wal_bundles",
        *_common(),
        sa.Column("start_lsn", sa.BigInteger(), nullable=False),
        sa.Column("end_lsn", sa.BigInteger(), nullable=False),
        sa.Column("first_commit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_commit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("covered_until", sa.DateTime(timezone=True), nullable=False),
        *_artifact(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wal_bundles")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_wal_bundles_server_system_identifier_timeline_start_lsn"),
        "wal_bundles",
        # A server re-created under the same name starts its positions again.
        ["server", "system_identifier", "timeline", "start_lsn"],
        unique=True,
        schema=SCHEMA,
    )
    op.create_table(
        "wal_base_backups",
        *_common(),
        sa.Column("start_lsn", sa.BigInteger(), nullable=False),
        sa.Column("stop_lsn", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=False),
        *_artifact(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wal_base_backups")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_wal_base_backups_server_stopped_at"),
        "wal_base_backups",
        ["server", "stopped_at"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("wal_base_backups", schema=SCHEMA)
    op.drop_table("wal_bundles", schema=SCHEMA)
