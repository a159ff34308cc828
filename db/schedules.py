"""Queries on backup_schedules: what the CLI, the gateway and the dispatcher use.

Writes take a ScheduleSpec, which can only be built validated (ScheduleSpec.build), so no
malformed cron, interval, time zone, project or database reaches the table. The runs table
(dispatch's exactly-once record) has its own module, db.schedule_runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import (
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from db import models, schedule_models
from worker import errors
from worker.contract import request
from worker.scheduling import retention
from worker.scheduling import when as schedule

Schedule = schedule_models.BackupSchedule
# Core tables for the dispatcher's bulk writes: no ORM bookkeeping for a thousand rows.
Job = models.Base.metadata.tables[f"{models.SCHEMA}.jobs"]
Run = models.Base.metadata.tables[f"{models.SCHEMA}.schedule_runs"]


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    """A validated schedule: what to dump, when, and how long to keep it."""

    project_id: str
    database: str
    when: schedule.When
    retention_days: int | None = None
    policy: retention.Policy = dataclasses.field(default_factory=retention.Policy)
    enabled: bool = True

    @classmethod
    def build(
        cls,
        *,
        project_id: object,
        database: object,
        cron: str | None = None,
        every: str | int | None = None,
        timezone: str | None = None,
        retention_days: int | None = None,
        keep_last: int | None = None,
        keep_daily: int | None = None,
        keep_weekly: int | None = None,
        keep_monthly: int | None = None,
        enabled: bool = True,
        min_interval: dt.timedelta = schedule.MIN_INTERVAL,
    ) -> ScheduleSpec:
        """Validate every field; InputError names the first bad one."""
        if retention_days is not None and (
            isinstance(retention_days, bool)
            or not isinstance(retention_days, int)
            or not 1 <= retention_days <= request.MAX_EXPIRY_DAYS
        ):
            raise errors.InputError(
                f"retention_days must be a whole number of days from 1 to {request.MAX_EXPIRY_DAYS}"
            )
        req = request.validate(project_id, database, retention_days)
        when = schedule.When.parse(
            cron=cron, every=every, timezone=timezone, min_interval=min_interval
        )
        policy = retention.Policy.of(keep_last, keep_daily, keep_weekly, keep_monthly)
        return cls(req.project_id, req.database, when, req.expires_in_days, policy, enabled)

    def columns(self, now: dt.datetime) -> dict[str, object]:
        """The table's columns for this spec (next_run_at excluded)."""
        return {
            "project_id": self.project_id,
            "database": self.database,
            "cron": self.when.cron,
            "interval_seconds": self.when.interval_seconds,
            "timezone": self.when.timezone,
            "period_seconds": int(self.when.period(now).total_seconds()),
            "retention_days": self.retention_days,
            "keep_last": self.policy.last or None,
            "keep_daily": self.policy.daily or None,
            "keep_weekly": self.policy.weekly or None,
            "keep_monthly": self.policy.monthly or None,
            "enabled": self.enabled,
        }


def when_of(row: schedule_models.BackupSchedule) -> schedule.When:
    """The row's cron or interval."""
    return schedule.When.from_row(row.cron, row.interval_seconds, row.timezone)


def policy_of(row: schedule_models.BackupSchedule) -> retention.Policy:
    """The row's grandfather-father-son rules."""
    return retention.Policy.of(row.keep_last, row.keep_daily, row.keep_weekly, row.keep_monthly)


def expires_in_days(row: schedule_models.BackupSchedule) -> int | None:
    """The expires_in_days each run passes: the schedule's retention, else what GFS needs."""
    if row.retention_days is not None:
        return row.retention_days
    horizon = policy_of(row).horizon_days()
    return None if horizon is None else min(horizon, request.MAX_EXPIRY_DAYS)


def db_now(session: Session) -> dt.datetime:
    """The transaction's now(): every host agrees on the database's clock."""
    return session.scalars(select(func.now())).one()


def create_schedule(
    session: Session, spec: ScheduleSpec, *, start_at: dt.datetime | None = None
) -> schedule_models.BackupSchedule:
    """Insert a schedule; InputError if the project's database already has one."""
    now = db_now(session)
    first = spec.when.first_run(now) if start_at is None else _aware(start_at)
    try:
        with session.begin_nested():
            row = session.scalars(
                pg_insert(Schedule)
                .values(**spec.columns(now), next_run_at=first)
                .returning(Schedule)
            ).one()
    except SAIntegrityError:
        raise errors.InputError(
            f"project {spec.project_id} already has a schedule for database {spec.database}:"
            " remove it first"
        ) from None
    return row


def update_schedule(
    session: Session, schedule_id: uuid.UUID, spec: ScheduleSpec
) -> schedule_models.BackupSchedule:
    """Replace a schedule's settings; next_run_at is computed anew from the new `when`."""
    now = db_now(session)
    row = session.scalars(
        update(Schedule)
        .where(Schedule.id == schedule_id)
        .values(**spec.columns(now), next_run_at=spec.when.first_run(now))
        .returning(Schedule)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        raise errors.NotFoundError(f"schedule {schedule_id} does not exist")
    return row


def get_schedule(session: Session, schedule_id: uuid.UUID) -> schedule_models.BackupSchedule | None:
    """The schedule with this id."""
    return session.get(Schedule, schedule_id, populate_existing=True)


def list_schedules(
    session: Session,
    *,
    project_id: str | None = None,
    enabled: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[schedule_models.BackupSchedule]:
    """Schedules by project and database."""
    if limit < 1 or offset < 0:
        raise errors.InputError("limit must be at least 1 and offset at least 0")
    query = (
        select(Schedule)
        .order_by(Schedule.project_id, Schedule.database)
        .limit(limit)
        .offset(offset)
    )
    if project_id is not None:
        query = query.where(Schedule.project_id == project_id)
    if enabled is not None:
        query = query.where(Schedule.enabled.is_(enabled))
    return list(session.scalars(query))


def delete_schedule(session: Session, schedule_id: uuid.UUID) -> bool:
    """Remove a schedule (its backups stay); False if there was none."""
    gone = session.scalars(
        delete(Schedule).where(Schedule.id == schedule_id).returning(Schedule.id)
    ).one_or_none()
    return gone is not None


def set_enabled(
    session: Session, schedule_id: uuid.UUID, enabled: bool
) -> schedule_models.BackupSchedule:
    """Enable or disable; enabling starts afresh from now (no catch-up for the pause)."""
    now = db_now(session)
    row = get_schedule(session, schedule_id)
    if row is None:
        raise errors.NotFoundError(f"schedule {schedule_id} does not exist")
    if row.enabled == enabled:
        return row
    changes: dict[str, object] = {"enabled": enabled}
    if enabled:
        changes["enabled_at"] = now
        changes["next_run_at"] = when_of(row).first_run(now)
    return session.scalars(
        update(Schedule)
        .where(Schedule.id == schedule_id)
        .values(**changes)
        .returning(Schedule)
        .execution_options(populate_existing=True)
    ).one()


def claim_due(session: Session, *, limit: int) -> list[schedule_models.BackupSchedule]:
    """Due enabled schedules, oldest first, locked; a concurrent dispatcher skips them."""
    return list(
        session.scalars(
            select(Schedule)
            .where(Schedule.enabled, Schedule.next_run_at <= func.now())
            .order_by(Schedule.next_run_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise errors.InputError("timestamps must carry a time zone")
    return moment
