"""Each project's backup health: its last backup, its last backup job, its schedule, its drill.

One row per (project, database) that has a backup, a finished backup job or a schedule. Read by
the Prometheus exporter at scrape time and by `backup-worker status`, so both tell the same.
The drill columns (backups.drilled_at, drill_status) come with a later migration: they are
looked up in the catalog and read when present, so this module works before and after it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from db import models, schedule_models

Backup = models.Backup
Job = models.Job
Schedule = schedule_models.BackupSchedule
DRILL_OK = "ok"  # a drill_status that counts as passed; any other value counts as failed
Key = tuple[str, str]  # (project_id, database)


@dataclasses.dataclass
class ProjectHealth:
    """What is known of one project's database; None where nothing is."""

    project_id: str
    database: str
    last_backup_at: dt.datetime | None = None
    last_backup_bytes: int | None = None
    last_backup_seconds: float | None = None  # the job's run, started_at to finished_at
    last_job_status: str | None = None  # of the latest finished backup job: completed or failed
    last_job_at: dt.datetime | None = None
    last_error: str | None = None  # secret-free by the jobs table's contract
    period_seconds: int | None = None  # the shortest enabled schedule's
    next_run_at: dt.datetime | None = None
    schedule_since: dt.datetime | None = None  # enabled_at: the clock of a never-run schedule
    drilled_at: dt.datetime | None = None
    drill_status: str | None = None

    @property
    def failing(self) -> bool:
        """The latest finished backup job failed."""
        return self.last_job_status == models.JobStatus.FAILED.value

    def lag_seconds(self, now: dt.datetime) -> float | None:
        """Seconds past the expected next backup (last one, or enabling, plus the period)."""
        if self.period_seconds is None:
            return None
        since = max(t for t in (self.last_backup_at, self.schedule_since) if t is not None)
        expected = since + dt.timedelta(seconds=self.period_seconds)
        return max(0.0, (now - expected).total_seconds())

    def overdue(self, now: dt.datetime) -> bool:
        """No backup for twice the period: the condition of the alert check and of the rule."""
        lag = self.lag_seconds(now)
        return lag is not None and self.period_seconds is not None and lag > self.period_seconds


def now(session: Session) -> dt.datetime:
    """The database's clock, the one every timestamp here was written with."""
    return session.scalars(select(func.now())).one()


def projects(session: Session) -> list[ProjectHealth]:
    """Every (project, database) known to backups, backup jobs or schedules, sorted."""
    found: dict[Key, ProjectHealth] = {}

    def entry(project_id: str, database: str | None) -> ProjectHealth:
        key = (project_id, database or "")
        if key not in found:
            found[key] = ProjectHealth(project_id=project_id, database=key[1])
        return found[key]

    latest = session.execute(
        select(Backup.project_id, Backup.database, Backup.created_at, Backup.size_bytes, Job)
        .outerjoin(Job, Job.id == Backup.job_id)
        .ext(distinct_on(Backup.project_id, Backup.database))
        .order_by(Backup.project_id, Backup.database, Backup.created_at.desc(), Backup.id.desc())
    )
    for project_id, database, created_at, size, job in latest:
        health = entry(project_id, database)
        health.last_backup_at = created_at
        health.last_backup_bytes = size
        if job is not None and job.started_at is not None and job.finished_at is not None:
            health.last_backup_seconds = (job.finished_at - job.started_at).total_seconds()
    job_database = Job.payload["database"].astext
    finished = session.execute(
        select(Job.project_id, job_database, Job.status, Job.finished_at, Job.error)
        .ext(distinct_on(Job.project_id, job_database))
        .where(
            Job.type == models.JobType.BACKUP.value,
            Job.status.in_([models.JobStatus.COMPLETED.value, models.JobStatus.FAILED.value]),
            Job.finished_at.is_not(None),
        )
        .order_by(Job.project_id, job_database, Job.finished_at.desc())
    )
    for project_id, database, status, finished_at, error in finished:
        health = entry(project_id, database)
        health.last_job_status, health.last_job_at = status, finished_at
        health.last_error = error if status == models.JobStatus.FAILED.value else None
    schedules = session.execute(
        select(Schedule.project_id, Schedule.database, Schedule.period_seconds)
        .add_columns(Schedule.next_run_at, Schedule.enabled_at)
        .where(Schedule.enabled)
        .order_by(Schedule.project_id, Schedule.database, Schedule.period_seconds)
    )
    for project_id, database, period, next_run_at, enabled_at in schedules:
        health = entry(project_id, database)
        if health.period_seconds is None:  # the shortest period comes first
            health.period_seconds, health.schedule_since = period, enabled_at
        if health.next_run_at is None or next_run_at < health.next_run_at:
            health.next_run_at = next_run_at
    for project_id, database, drilled_at, status in drills(session):
        health = entry(project_id, database)
        health.drilled_at, health.drill_status = drilled_at, status
    return [found[key] for key in sorted(found)]


def drills(session: Session) -> list[tuple[str, str, dt.datetime, str | None]]:
    """(project, database, drilled_at, drill_status) of each one's latest drill."""
    rows = session.execute(
        text(
            f"SELECT DISTINCT ON (project_id, database) project_id, "
            f"coalesce(database, ''), drilled_at, drill_status FROM {models.SCHEMA}.backups "
            "WHERE drilled_at IS NOT NULL ORDER BY project_id, database, drilled_at DESC"
        )
    )
    return [(str(p), str(d), at, status) for p, d, at, status in rows]


def job_counts(session: Session) -> dict[tuple[str, str], int]:
    """(type, status) -> number of jobs rows."""
    rows = session.execute(
        select(Job.type, Job.status, func.count()).group_by(Job.type, Job.status)
    )
    return {(type_, status): int(count) for type_, status, count in rows}
