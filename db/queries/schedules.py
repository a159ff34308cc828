"""Queries on backup_schedules: what the CLI, the gateway and the dispatcher use.

Writes take plain ScheduleValues and the next run: the caller validates them and computes
them (worker.scheduling.spec builds them from a validated ScheduleSpec); no policy lives here.
The runs table (dispatch's exactly-once record) has its own module, db.queries.schedule_runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Collection

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

Schedule = schedule_models.BackupSchedule
# Core tables for the dispatcher's bulk writes: no ORM bookkeeping for a thousand rows.
Job = models.Base.metadata.tables[f"{models.SCHEMA}.jobs"]
Run = models.Base.metadata.tables[f"{models.SCHEMA}.schedule_runs"]


@dataclasses.dataclass(frozen=True)
class ScheduleValues:
    """A schedule's columns, next_run_at excluded, as the caller computed and validated them."""

    project_id: str
    database: str
    cron: str | None
    interval_seconds: int | None
    timezone: str
    period_seconds: int
    retention_days: int | None = None
    keep_last: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    enabled: bool = True
    server: str = "default"
    exclude: list[str] = dataclasses.field(default_factory=list)


def db_now(session: Session) -> dt.datetime:
    """The transaction's now(): every host agrees on the database's clock."""
    return session.scalars(select(func.now())).one()


def create_schedule(
    session: Session, values: ScheduleValues, *, next_run_at: dt.datetime
) -> schedule_models.BackupSchedule:
    """Insert a schedule; InputError if the project's database already has one."""
    try:
        with session.begin_nested():
            row = session.scalars(
                pg_insert(Schedule)
                .values(**dataclasses.asdict(values), next_run_at=next_run_at)
                .returning(Schedule)
            ).one()
    except SAIntegrityError:
        if values.database == schedule_models.ALL:
            raise errors.InputError(
                f"server {values.server} already has a schedule of every database: remove it first"
            ) from None
        raise errors.InputError(
            f"project {values.project_id} already has a schedule for database {values.database}:"
            " remove it first"
        ) from None
    return row


def update_schedule(
    session: Session, schedule_id: uuid.UUID, values: ScheduleValues, *, next_run_at: dt.datetime
) -> schedule_models.BackupSchedule:
    """Replace a schedule's settings and its next run."""
    return _change(session, schedule_id, **dataclasses.asdict(values), next_run_at=next_run_at)


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


def enable(
    session: Session, schedule_id: uuid.UUID, *, next_run_at: dt.datetime
) -> schedule_models.BackupSchedule:
    """Enable a schedule from now (enabled_at), next due at `next_run_at`."""
    return _change(
        session, schedule_id, enabled=True, enabled_at=func.now(), next_run_at=next_run_at
    )


def disable(session: Session, schedule_id: uuid.UUID) -> schedule_models.BackupSchedule:
    """Disable a schedule: the dispatcher no longer claims it."""
    return _change(session, schedule_id, enabled=False)


def _change(
    session: Session, schedule_id: uuid.UUID, **changes: object
) -> schedule_models.BackupSchedule:
    """UPDATE one schedule with `changes`; its row as it is now, or NotFoundError."""
    row = session.scalars(
        update(Schedule)
        .where(Schedule.id == schedule_id)
        .values(**changes)
        .returning(Schedule)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        raise errors.NotFoundError(f"schedule {schedule_id} does not exist")
    return row


def claim_due(
    session: Session, *, limit: int, skip: Collection[uuid.UUID] = ()
) -> list[schedule_models.BackupSchedule]:
    """Due enabled schedules, oldest first, locked; a concurrent dispatcher skips them.

    `skip`: schedules this dispatcher already gave up on in this tick.
    """
    query = select(Schedule).where(Schedule.enabled, Schedule.next_run_at <= func.now())
    if skip:
        query = query.where(Schedule.id.not_in(list(skip)))
    return list(
        session.scalars(
            query.order_by(Schedule.next_run_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )
