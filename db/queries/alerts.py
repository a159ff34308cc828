"""Queries of the alert check: unhealthy projects, and one incident row per project at a time.

An incident opens when a project becomes unhealthy (its latest backup job failed, a schedule
of it has had no backup for twice its period, its last drill failed, or one of its active
backups failed verification) and closes when it is healthy again.
The partial unique index uq_backup_alerts_open allows one open incident per project, so a
second detection, by the same or another checker, inserts nothing and alerts nobody.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping

from sqlalchemy import Text, case, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, aliased

from db import models, schedule_models
from db.queries import restores

Alert = schedule_models.BackupAlert
Job = models.Job
Schedule = schedule_models.BackupSchedule
FAILURE_WINDOW = dt.timedelta(days=7)  # failed jobs older than this no longer open incidents


@dataclasses.dataclass(frozen=True)
class Finding:
    """Why one project is unhealthy."""

    project_id: str
    kind: str
    detail: str


def failing_projects(session: Session) -> list[tuple[str, str | None, str | None]]:
    """(project, database, error) of projects whose latest finished backup job failed."""
    later = aliased(Job)
    succeeded_since = (
        select(later.id)
        .where(
            later.project_id == Job.project_id,
            later.type == models.JobType.BACKUP.value,
            later.status == models.JobStatus.COMPLETED.value,
            later.finished_at > Job.finished_at,
        )
        .exists()
    )
    rows = session.execute(
        select(Job.project_id, Job.payload["database"].astext, Job.error)
        .ext(distinct_on(Job.project_id))
        .where(
            Job.type == models.JobType.BACKUP.value,
            Job.status == models.JobStatus.FAILED.value,
            Job.finished_at > func.now() - FAILURE_WINDOW,
            ~succeeded_since,
        )
        .order_by(Job.project_id, Job.finished_at.desc())
    )
    return [(project, database, error) for project, database, error in rows]


def failed_verifications(session: Session) -> list[tuple[str, uuid.UUID, str, str | None]]:
    """(project, backup id, database, the verify job's error) of active backups whose latest
    verification failed, the newest such backup per project.

    Any such backup is an incident, not only a project's newest: the damaged one is still
    listed, and a restore from it would fail. It closes once the backup verifies again or is
    no longer active (expired, deleted).
    """
    verify = aliased(Job)
    error = (
        select(verify.error)
        .where(
            verify.type == models.JobType.VERIFY.value,
            verify.status == models.JobStatus.FAILED.value,
            verify.payload["backup_id"].astext == func.cast(models.Backup.id, Text),
        )
        .order_by(verify.finished_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(models.Backup.project_id, models.Backup.id, models.Backup.database, error)
        .ext(distinct_on(models.Backup.project_id))
        .where(
            models.Backup.verify_status == restores.VERIFY_FAILED,
            models.Backup.status == models.BackupStatus.ACTIVE.value,
        )
        .order_by(models.Backup.project_id, models.Backup.verified_at.desc())
    )
    return [(project, backup, database, detail) for project, backup, database, detail in rows]


def overdue_schedules(
    session: Session,
) -> list[tuple[schedule_models.BackupSchedule, dt.datetime | None]]:
    """Enabled schedules without a backup for twice their period, with their last backup time.

    A schedule of every database (`*`) counts the backups its own runs made, of any database.
    """
    run = schedule_models.ScheduleRun
    last_backup = case(
        (
            Schedule.database == schedule_models.ALL,
            select(func.max(models.Backup.created_at))
            .join(run, run.job_id == models.Backup.job_id)
            .where(run.schedule_id == Schedule.id)
            .scalar_subquery(),
        ),
        else_=select(func.max(models.Backup.created_at))
        .where(
            models.Backup.project_id == Schedule.project_id,
            models.Backup.database == Schedule.database,
        )
        .scalar_subquery(),
    )
    since = func.greatest(last_backup, Schedule.enabled_at)
    period = Schedule.period_seconds * literal_column("interval '1 second'")
    rows = session.execute(
        select(Schedule, last_backup)
        .where(Schedule.enabled, since < func.now() - 2 * period)
        .order_by(Schedule.project_id, Schedule.database)
    )
    return [(row, last) for row, last in rows]


def resolve_healthy(session: Session, unhealthy: Iterable[str]) -> list[str]:
    """Close the open incidents of every project not in `unhealthy`; returns those projects."""
    projects = sorted(set(unhealthy))
    return list(
        session.scalars(
            update(Alert)
            .where(Alert.resolved_at.is_(None), Alert.project_id.not_in(projects))
            .values(resolved_at=func.now())
            .returning(Alert.project_id)
        )
    )


def open_incidents(session: Session, findings: Mapping[str, Finding]) -> list[str]:
    """Open an incident for each project without one; returns the projects newly opened."""
    if not findings:
        return []
    rows = [
        {"project_id": f.project_id, "kind": f.kind, "detail": f.detail} for f in findings.values()
    ]
    return list(
        session.scalars(
            pg_insert(Alert)
            .values(rows)
            .on_conflict_do_nothing(
                index_elements=[Alert.project_id], index_where=Alert.resolved_at.is_(None)
            )
            .returning(Alert.project_id)
        )
    )


def claim_unnotified(session: Session) -> list[schedule_models.BackupAlert]:
    """Open incidents nobody has sent yet, marked sent now (at most once: see unclaim)."""
    return list(
        session.scalars(
            update(Alert)
            .where(Alert.notified_at.is_(None), Alert.resolved_at.is_(None))
            .values(notified_at=func.now())
            .returning(Alert)
            .execution_options(populate_existing=True)
        )
    )


def unclaim(session: Session, alert_id: uuid.UUID) -> None:
    """The send failed: the next check tries again."""
    session.execute(update(Alert).where(Alert.id == alert_id).values(notified_at=None))


def open_alerts(session: Session) -> list[schedule_models.BackupAlert]:
    """Every open incident, oldest first."""
    return list(
        session.scalars(select(Alert).where(Alert.resolved_at.is_(None)).order_by(Alert.opened_at))
    )
