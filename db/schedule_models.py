"""Models of the periodic side: backup schedules, dispatched runs and alert incidents.

They share db.models' metadata (schema control_plane), so migrations and `alembic check` see them.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.columns import columns_json as _columns_json
from db.columns import created as _created
from db.columns import one_of as _one_of
from db.columns import timestamp as _timestamp
from db.models import SCHEMA, Base, JSONObject

# The database (and project) of a schedule that backs up every database of its server.
ALL = "*"


class AlertKind(enum.StrEnum):
    """Why a project's backups need an operator."""

    FAILED = "failed"  # a backup failed after its last attempt
    OVERDUE = "overdue"  # no successful backup for twice the schedule's period
    DRILL = "drill"  # the project's last restore drill failed
    VERIFY = "verify"  # a backup of the project failed its verification (a part gone, damaged)


class BackupSchedule(Base):
    """When to back up one project's database, and how long to keep the backups."""

    __tablename__ = "backup_schedules"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, server_default=text("gen_random_uuid()")
    )
    project_id: Mapped[str] = mapped_column(Text)
    database: Mapped[str] = mapped_column(Text)
    server: Mapped[str] = mapped_column(Text, server_default=text("'default'"))
    # database ALL: every database of the server (project_id ALL too), minus these patterns.
    exclude: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # Exactly one of cron / interval_seconds (worker/scheduling/when.py validates both on write).
    cron: Mapped[str | None] = mapped_column(Text)
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(Text, server_default=text("'UTC'"))
    # Longest gap between two runs: a project is overdue after twice this without a backup.
    period_seconds: Mapped[int] = mapped_column(Integer)
    retention_days: Mapped[int | None] = mapped_column(Integer)
    keep_last: Mapped[int | None] = mapped_column(Integer)
    keep_daily: Mapped[int | None] = mapped_column(Integer)
    keep_weekly: Mapped[int | None] = mapped_column(Integer)
    keep_monthly: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    enabled_at: Mapped[dt.datetime] = _created()
    next_run_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_run_at: Mapped[dt.datetime | None] = _timestamp()
    last_job_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey(f"{SCHEMA}.jobs.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        CheckConstraint("(cron IS NULL) <> (interval_seconds IS NULL)", name="when"),
        CheckConstraint("interval_seconds IS NULL OR interval_seconds > 0", name="interval"),
        CheckConstraint("period_seconds > 0", name="period"),
        CheckConstraint(
            "retention_days IS NULL OR retention_days BETWEEN 1 AND 36500", name="retention"
        ),
        CheckConstraint(
            "LEAST(keep_last, keep_daily, keep_weekly, keep_monthly) >= 0", name="keep"
        ),
        # One schedule per project and database; one whole-server (`*`) schedule per server.
        Index(
            "uq_backup_schedules_project_id_database",
            "project_id",
            "database",
            unique=True,
            postgresql_where=text(f"database <> '{ALL}'"),
        ),
        Index(
            "uq_backup_schedules_server_all",
            "server",
            unique=True,
            postgresql_where=text(f"database = '{ALL}'"),
        ),
        # The dispatcher's claim: due enabled schedules, oldest first.
        Index("ix_backup_schedules_due", "next_run_at", postgresql_where="enabled"),
    )

    def to_json(self) -> JSONObject:
        """The row as a JSON-ready dict."""
        return _columns_json(self)


class ScheduleRun(Base):
    """One dispatched run: the unique key that makes a second dispatch of a slot harmless."""

    __tablename__ = "schedule_runs"

    schedule_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey(f"{SCHEMA}.backup_schedules.id", ondelete="CASCADE"), primary_key=True
    )
    scheduled_for: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    # The database of a whole-server schedule's run; '' for a schedule of one database.
    database: Mapped[str] = mapped_column(Text, primary_key=True, server_default=text("''"))
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey(f"{SCHEMA}.jobs.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[dt.datetime] = _created()

    __table_args__ = (
        # The sweep's prune (db.queries.schedule_runs.prune_runs): the oldest runs first, in key
        # order.
        Index("ix_schedule_runs_scheduled_for", "scheduled_for", "schedule_id"),
    )


class BackupAlert(Base):
    """One incident of a project's backups, alerted at most once."""

    __tablename__ = "backup_alerts"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, server_default=text("gen_random_uuid()")
    )
    project_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[dt.datetime] = _created()
    notified_at: Mapped[dt.datetime | None] = _timestamp()
    resolved_at: Mapped[dt.datetime | None] = _timestamp()

    __table_args__ = (
        CheckConstraint(_one_of("kind", AlertKind), name="kind"),
        # One open incident per project: a second detection of it is no new alert.
        Index(
            "uq_backup_alerts_open",
            "project_id",
            unique=True,
            postgresql_where="resolved_at IS NULL",
        ),
    )

    def to_json(self) -> JSONObject:
        """The row as a JSON-ready dict."""
        return _columns_json(self)
