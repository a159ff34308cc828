"""A schedule as the CLI, the gateway and the dispatcher see it: validated, then written.

ScheduleSpec can only be built validated (ScheduleSpec.build), so no malformed cron, interval,
time zone, project or database reaches backup_schedules. The policy that turns a spec or a row
into columns, next runs and expiry lives here; db.queries.schedules only stores the plain values
it is
given (db.queries.schedules.ScheduleValues) and runs the queries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy.orm import Session

from db import schedule_models
from db.queries import schedules as db_schedules
from worker import errors
from worker.contract import request
from worker.jobs import fanout
from worker.postgres import servers
from worker.scheduling import retention
from worker.scheduling import when as schedule


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    """A validated schedule: what to dump, when, and how long to keep it."""

    project_id: str
    database: str
    when: schedule.When
    retention_days: int | None = None
    policy: retention.Policy = dataclasses.field(default_factory=retention.Policy)
    enabled: bool = True
    server: str = "default"
    exclude: tuple[str, ...] = ()  # database ALL only: the databases it leaves out

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
        server: object = None,
        exclude: object = None,
    ) -> ScheduleSpec:
        """Validate every field; InputError names the first bad one.

        Database ALL (`*`) backs up every database of the server, each under its own project
        (worker.jobs.fanout): it takes no project id, and only it takes exclude patterns.
        """
        if retention_days is not None and (
            isinstance(retention_days, bool)
            or not isinstance(retention_days, int)
            or not 1 <= retention_days <= request.MAX_EXPIRY_DAYS
        ):
            raise errors.InputError(
                f"retention_days must be a whole number of days from 1 to {request.MAX_EXPIRY_DAYS}"
            )
        patterns = fanout.validate_patterns(exclude)
        if database == schedule_models.ALL:
            if project_id not in (None, schedule_models.ALL):
                raise errors.InputError(
                    "a schedule of every database (database '*') files each one under its own "
                    "project: give no project id"
                )
            names = (schedule_models.ALL, schedule_models.ALL)
            name_of_server = servers.validate_name(server or servers.DEFAULT_SERVER)
        elif patterns:
            raise errors.InputError("exclude patterns go with database '*' only")
        elif project_id is None:
            raise errors.InputError("a project id is required (or database '*' with no project)")
        else:
            req = request.validate(project_id, database, retention_days, server=server)
            names, name_of_server = (req.project_id, req.database), req.server
        when = schedule.When.parse(
            cron=cron, every=every, timezone=timezone, min_interval=min_interval
        )
        policy = retention.Policy.of(keep_last, keep_daily, keep_weekly, keep_monthly)
        return cls(*names, when, retention_days, policy, enabled, name_of_server, tuple(patterns))

    @property
    def every_database(self) -> bool:
        """Whether it backs up every database of its server."""
        return self.database == schedule_models.ALL

    def values(self, now: dt.datetime) -> db_schedules.ScheduleValues:
        """The table's columns for this spec (next_run_at excluded)."""
        return db_schedules.ScheduleValues(
            project_id=self.project_id,
            database=self.database,
            cron=self.when.cron,
            interval_seconds=self.when.interval_seconds,
            timezone=self.when.timezone,
            period_seconds=int(self.when.period(now).total_seconds()),
            retention_days=self.retention_days,
            keep_last=self.policy.last or None,
            keep_daily=self.policy.daily or None,
            keep_weekly=self.policy.weekly or None,
            keep_monthly=self.policy.monthly or None,
            enabled=self.enabled,
            server=self.server,
            exclude=list(self.exclude),
        )


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


def create(
    session: Session, spec: ScheduleSpec, *, start_at: dt.datetime | None = None
) -> schedule_models.BackupSchedule:
    """Insert a schedule, first due at `start_at` or its first slot after now.

    InputError if the project's database already has one.
    """
    now = db_schedules.db_now(session)
    first = spec.when.first_run(now) if start_at is None else _aware(start_at)
    return db_schedules.create_schedule(session, spec.values(now), next_run_at=first)


def update(
    session: Session, schedule_id: uuid.UUID, spec: ScheduleSpec
) -> schedule_models.BackupSchedule:
    """Replace a schedule's settings; next_run_at is computed anew from the new `when`."""
    now = db_schedules.db_now(session)
    return db_schedules.update_schedule(
        session, schedule_id, spec.values(now), next_run_at=spec.when.first_run(now)
    )


def set_enabled(
    session: Session, schedule_id: uuid.UUID, enabled: bool
) -> schedule_models.BackupSchedule:
    """Enable or disable; enabling starts afresh from now (no catch-up for the pause)."""
    now = db_schedules.db_now(session)
    row = db_schedules.get_schedule(session, schedule_id)
    if row is None:
        raise errors.NotFoundError(f"schedule {schedule_id} does not exist")
    if row.enabled == enabled:
        return row
    if not enabled:
        return db_schedules.disable(session, schedule_id)
    return db_schedules.enable(session, schedule_id, next_run_at=when_of(row).first_run(now))


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise errors.InputError("timestamps must carry a time zone")
    return moment
