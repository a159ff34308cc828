"""Control-plane tables: jobs, backups, backup_parts.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"
SHA256_CHECK = "sha256 ~ '^[0-9a-f]{64}$'"


def _timestamp(name: str, *, now: bool = False) -> sa.Column[object]:
    if now:
        return sa.Column(
            name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        )
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("stage", sa.Text(), nullable=True),
        sa.Column("progress", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "payload",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column("celery_task_id", sa.Text(), nullable=True),
        sa.Column("worker_hostname", sa.Text(), nullable=True),
        _timestamp("created_at", now=True),
        _timestamp("started_at"),
        _timestamp("heartbeat_at"),
        _timestamp("finished_at"),
        _timestamp("updated_at", now=True),
        sa.CheckConstraint(
            "type IN ('backup', 'restore', 'verify', 'send', 'record')", name=op.f("ck_jobs_type")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_jobs_status"),
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_jobs_progress")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_jobs_attempts")),
        sa.CheckConstraint("jsonb_typeof(payload) = 'object'", name=op.f("ck_jobs_payload")),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.UniqueConstraint("celery_task_id", name="uq_jobs_celery_task_id"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_jobs_project_created",
        "jobs",
        ["project_id", sa.text("created_at DESC"), sa.text("id DESC")],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_jobs_status_created",
        "jobs",
        ["status", sa.text("created_at DESC"), sa.text("id DESC")],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_jobs_created", "jobs", [sa.text("created_at DESC"), sa.text("id DESC")], schema=SCHEMA
    )
    op.create_index(
        "ix_jobs_running_heartbeat",
        "jobs",
        ["heartbeat_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'running'"),
    )

    op.create_table(
        "backups",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.Text(), server_default="database", nullable=False),
        sa.Column("database", sa.Text(), nullable=True),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("compression", sa.Text(), nullable=False),
        sa.Column("encrypted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "encryption_recipients",
            postgresql.JSONB(),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("message_thread_id", sa.BigInteger(), nullable=True),
        sa.Column("part_count", sa.Integer(), nullable=False),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        _timestamp("created_at", now=True),
        _timestamp("expires_at"),
        _timestamp("verified_at"),
        sa.Column("verify_status", sa.Text(), nullable=True),
        sa.CheckConstraint("type IN ('database', 'file')", name=op.f("ck_backups_type")),
        sa.CheckConstraint(
            "status IN ('active', 'expired', 'deleted')", name=op.f("ck_backups_status")
        ),
        sa.CheckConstraint("compression IN ('zstd', 'none')", name=op.f("ck_backups_compression")),
        sa.CheckConstraint(SHA256_CHECK, name=op.f("ck_backups_sha256")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_backups_size_bytes")),
        sa.CheckConstraint("part_count >= 1", name=op.f("ck_backups_part_count")),
        sa.CheckConstraint(
            "jsonb_typeof(encryption_recipients) = 'array'", name=op.f("ck_backups_recipients")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            [f"{SCHEMA}.jobs.id"],
            name="fk_backups_job_id_jobs",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_backups"),
        sa.UniqueConstraint("job_id", name="uq_backups_job_id"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_backups_project_created",
        "backups",
        ["project_id", sa.text("created_at DESC"), sa.text("id DESC")],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_backups_created",
        "backups",
        [sa.text("created_at DESC"), sa.text("id DESC")],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_backups_active_expires",
        "backups",
        ["expires_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "ix_backups_active_latest",
        "backups",
        ["project_id", sa.text("created_at DESC"), sa.text("id DESC")],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index("ix_backups_status_type", "backups", ["status", "type"], schema=SCHEMA)

    op.create_table(
        "backup_parts",
        sa.Column("backup_id", sa.Uuid(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Text(), nullable=False),
        sa.Column("file_unique_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.CheckConstraint('"index" >= 0', name=op.f("ck_backup_parts_index")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_backup_parts_size_bytes")),
        sa.CheckConstraint(SHA256_CHECK, name=op.f("ck_backup_parts_sha256")),
        sa.ForeignKeyConstraint(
            ["backup_id"],
            [f"{SCHEMA}.backups.id"],
            name="fk_backup_parts_backup_id_backups",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("backup_id", "index", name="pk_backup_parts"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    # The schema stays: Alembic's version table lives in it.
    op.drop_table("backup_parts", schema=SCHEMA)
    op.drop_table("backups", schema=SCHEMA)
    op.drop_table("jobs", schema=SCHEMA)
