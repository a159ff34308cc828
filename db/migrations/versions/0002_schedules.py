"""Schedules, their runs, alert incidents, and the delete state of backup parts.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "control_plane"
# Every name is wrapped in op.f(): it is final, the metadata's naming convention must not
# prefix it a second time.


def _timestamp(name: str, *, now: bool = False, nullable: bool = True) -> sa.Column[object]:
    if now:
        return sa.Column(
            name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        )
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _uuid_pk() -> sa.Column[object]:
    return sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "backup_schedules",
        _uuid_pk(),
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("database", sa.Text(), nullable=False),
        sa.Column("cron", sa.Text(), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.Text(), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column("period_seconds", sa.Integer(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("keep_last", sa.Integer(), nullable=True),
        sa.Column("keep_daily", sa.Integer(), nullable=True),
        sa.Column("keep_weekly", sa.Integer(), nullable=True),
        sa.Column("keep_monthly", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        _timestamp("enabled_at", now=True),
        _timestamp("next_run_at", nullable=False),
        _timestamp("last_run_at"),
        sa.Column("last_job_id", sa.Uuid(), nullable=True),
        _timestamp("created_at", now=True),
        _timestamp("updated_at", now=True),
        sa.CheckConstraint(
            "(cron IS NULL) <> (interval_seconds IS NULL)", name=op.f("ck_backup_schedules_when")
        ),
        sa.CheckConstraint(
            "interval_seconds IS NULL OR interval_seconds > 0",
            name=op.f("ck_backup_schedules_interval"),
        ),
        sa.CheckConstraint("period_seconds > 0", name=op.f("ck_backup_schedules_period")),
        sa.CheckConstraint(
            "retention_days IS NULL OR retention_days BETWEEN 1 AND 36500",
            name=op.f("ck_backup_schedules_retention"),
        ),
        sa.CheckConstraint(
            "LEAST(keep_last, keep_daily, keep_weekly, keep_monthly) >= 0",
            name=op.f("ck_backup_schedules_keep"),
        ),
        sa.ForeignKeyConstraint(
            ["last_job_id"],
            [f"{SCHEMA}.jobs.id"],
            name=op.f("fk_backup_schedules_last_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_schedules")),
        sa.UniqueConstraint(
            "project_id", "database", name=op.f("uq_backup_schedules_project_id_database")
        ),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_backup_schedules_due"),
        "backup_schedules",
        ["next_run_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("enabled"),
    )

    op.create_table(
        "schedule_runs",
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        _timestamp("scheduled_for", nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        _timestamp("created_at", now=True),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            [f"{SCHEMA}.backup_schedules.id"],
            name=op.f("fk_schedule_runs_schedule_id_backup_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            [f"{SCHEMA}.jobs.id"],
            name=op.f("fk_schedule_runs_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("schedule_id", "scheduled_for", name=op.f("pk_schedule_runs")),
        sa.UniqueConstraint("job_id", name=op.f("uq_schedule_runs_job_id")),
        schema=SCHEMA,
    )

    op.create_table(
        "backup_alerts",
        _uuid_pk(),
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        _timestamp("opened_at", now=True),
        _timestamp("notified_at"),
        _timestamp("resolved_at"),
        sa.CheckConstraint("kind IN ('failed', 'overdue')", name=op.f("ck_backup_alerts_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_alerts")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("uq_backup_alerts_open"),
        "backup_alerts",
        ["project_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )

    op.add_column("backup_parts", sa.Column("delete_status", sa.Text()), schema=SCHEMA)
    op.add_column("backup_parts", sa.Column("delete_error", sa.Text()), schema=SCHEMA)
    op.add_column(
        "backup_parts",
        sa.Column("delete_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        schema=SCHEMA,
    )
    op.add_column("backup_parts", _timestamp("delete_attempted_at"), schema=SCHEMA)
    op.create_check_constraint(
        op.f("ck_backup_parts_delete_status"),
        "backup_parts",
        "delete_status IS NULL OR delete_status IN ('deleted', 'missing', 'undeletable')",
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_backup_parts_delete_status"), "backup_parts", schema=SCHEMA)
    for column in ("delete_attempted_at", "delete_attempts", "delete_error", "delete_status"):
        op.drop_column("backup_parts", column, schema=SCHEMA)
    op.drop_table("backup_alerts", schema=SCHEMA)
    op.drop_table("schedule_runs", schema=SCHEMA)
    op.drop_table("backup_schedules", schema=SCHEMA)
